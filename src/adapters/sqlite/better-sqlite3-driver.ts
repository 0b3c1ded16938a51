/**
 * @module
 * SqlDriver over better-sqlite3 (Node). Prepared statements are cached by their SQL text.
 */
import Database from "better-sqlite3";
import type { SqlDriver, SqlValue } from "./driver.js";

export interface BetterSqliteOptions {
  /** File path, or ":memory:". */
  filename: string;
  /** FULL (default) fsyncs every commit; NORMAL may lose the last commits on power loss, never on a process crash. */
  synchronous?: "FULL" | "NORMAL";
}

export function openBetterSqlite(opts: BetterSqliteOptions): SqlDriver {
  const db = new Database(opts.filename);
  if (opts.filename !== ":memory:") db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${opts.synchronous ?? "FULL"}`);
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const cache = new Map<string, Database.Statement>();
  const prep = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  // Statements in raw mode (rows as arrays) are separate objects: raw() changes the statement.
  const rawCache = new Map<string, Database.Statement>();
  const prepRaw = (sql: string) => {
    let s = rawCache.get(sql);
    if (!s) {
      s = db.prepare(sql).raw(true);
      rawCache.set(sql, s);
    }
    return s;
  };
  return {
    exec: (sql) => void db.exec(sql),
    run: (sql, params = []) => prep(sql).run(...(params as SqlValue[])).changes,
    get: (sql, params = []) => prep(sql).get(...(params as SqlValue[])) as never,
    all: (sql, params = []) => prep(sql).all(...(params as SqlValue[])) as never,
    values: (sql, params = []) => prepRaw(sql).get(...(params as SqlValue[])) as SqlValue[] | undefined,
    transaction: (fn) => db.transaction(fn).immediate(),
    // Cached BEGIN/COMMIT statements: db.transaction(fn) builds a new wrapper per call. Inside
    // another transaction the reads already share it.
    readTransaction: (fn) => {
      if (db.inTransaction) return fn();
      prep("BEGIN DEFERRED").run();
      try {
        const out = fn();
        prep("COMMIT").run();
        return out;
      } catch (e) {
        if (db.inTransaction) prep("ROLLBACK").run();
        throw e;
      }
    },
    inTransaction: () => db.inTransaction,
    close: () => db.close(),
  };
}
