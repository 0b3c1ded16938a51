/**
 * @module
 * SqlDriver over a SQLite-backed Durable Object's storage (`ctx.storage.sql` and
 * `ctx.storage.transactionSync`), so the one SqlStore runs unchanged on Workers.
 *
 * Web-standard code: the storage is described structurally below (the subset of
 * `DurableObjectStorage` from @cloudflare/workers-types this driver uses), so this file type-checks
 * and can be exercised on Node too.
 *
 * Differences from better-sqlite3 that matter here:
 * - There is no BEGIN/COMMIT over `sql.exec`; `transactionSync(fn)` is the transaction (nested calls
 *   become savepoints). Outside it, each `exec` is its own implicit transaction, and the runtime
 *   holds the response until the write is durable (output gate).
 * - `cursor.rowsWritten` counts index rows too (an INSERT into a table with two indexes reports 3
 *   per row), so `run()` asks SQLite for `changes()` instead: the rows the statement changed, the
 *   number better-sqlite3 reports.
 * - Statements are prepared and cached by the runtime; there is nothing to cache here.
 */
import type { SqlDriver, SqlRow, SqlValue } from "./driver.js";

/** What this driver needs of a `SqlStorageCursor`. */
export interface DurableObjectSqlCursor {
  toArray(): Record<string, unknown>[];
}

/** What this driver needs of `ctx.storage` in a SQLite-backed Durable Object. */
export interface DurableObjectSqlStorage {
  sql: { exec(query: string, ...bindings: unknown[]): DurableObjectSqlCursor };
  transactionSync<T>(closure: () => T): T;
}

export function durableObjectSqlDriver(storage: DurableObjectSqlStorage): SqlDriver {
  const sql = storage.sql;
  let depth = 0;
  const rows = <T>(query: string, params: readonly SqlValue[] = []): T[] => sql.exec(query, ...params).toArray() as T[];
  return {
    exec: (query) => void sql.exec(query).toArray(),
    run: (query, params = []) => {
      sql.exec(query, ...params).toArray();
      return Number(rows<SqlRow>("SELECT changes() AS n")[0]?.n ?? 0);
    },
    get: <T>(query: string, params?: readonly SqlValue[]) => rows<T>(query, params)[0],
    all: <T>(query: string, params?: readonly SqlValue[]) => rows<T>(query, params),
    transaction: (fn) =>
      storage.transactionSync(() => {
        depth++;
        try {
          return fn();
        } finally {
          depth--;
        }
      }),
    // The object runs one request at a time: its reads are a snapshot already; a transaction adds nothing.
    readTransaction: (fn) => fn(),
    inTransaction: () => depth > 0,
    // The runtime owns the database; there is nothing to close.
    close: () => {},
  };
}
