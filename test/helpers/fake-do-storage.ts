/**
 * A stand-in for a SQLite-backed Durable Object's `ctx.storage` on Node, over better-sqlite3:
 * `sql.exec(query, ...bindings)` runs the statement at once and returns a cursor, several
 * statements without bindings run as a script, and `transactionSync(fn)` commits or rolls back.
 * It lets the worker adapter (src/adapters/workers/gateway.ts) run in-process in unit tests; the
 * real storage is exercised by the contract suite against wrangler dev.
 */
import Database from "better-sqlite3";
import type { DurableObjectSqlStorage } from "../../src/adapters/sqlite/durable-object-driver.js";

export function fakeDurableObjectStorage(filename = ":memory:"): DurableObjectSqlStorage & { db: Database.Database } {
  const db = new Database(filename);
  db.pragma("foreign_keys = ON"); // as on Durable Objects
  return {
    db,
    sql: {
      exec(query: string, ...bindings: unknown[]) {
        let stmt: Database.Statement;
        try {
          stmt = db.prepare(query);
        } catch (e) {
          if (bindings.length === 0 && /more than one statement/.test((e as Error).message)) {
            db.exec(query);
            return { toArray: () => [] };
          }
          throw e;
        }
        if (stmt.reader) {
          const rows = stmt.all(...(bindings as never[])) as Record<string, unknown>[];
          return { toArray: () => rows };
        }
        stmt.run(...(bindings as never[]));
        return { toArray: () => [] };
      },
    },
    transactionSync: <T>(fn: () => T): T => db.transaction(fn)(),
  };
}
