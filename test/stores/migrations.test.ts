/**
 * SQL migrations on both drivers the SQL store runs on: better-sqlite3 (a real file) and Durable
 * Object storage. The DO storage is the better-sqlite3-backed stand-in (test/helpers/fake-do-storage.ts)
 * driven through the real durableObjectSqlDriver, because the Workers runtime cannot be opened
 * in-process; the contract suite against wrangler dev exercises the real storage.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import type { SqlDriver } from "../../src/adapters/sqlite/driver.js";
import { durableObjectSqlDriver } from "../../src/adapters/sqlite/durable-object-driver.js";
import { type Migration, MIGRATIONS, MigrationError, migrate, schemaVersion } from "../../src/adapters/sqlite/migrations.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { fakeDurableObjectStorage } from "../helpers/fake-do-storage.js";

const drivers: [string, (file: string) => SqlDriver][] = [
  ["better-sqlite3", (file) => openBetterSqlite({ filename: file, synchronous: "NORMAL" })],
  ["Durable Object storage (stand-in)", (file) => durableObjectSqlDriver(fakeDurableObjectStorage(file))],
];

const tables = (db: SqlDriver) =>
  db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").map((r) => r.name);
const applied = (db: SqlDriver) => db.all<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version");

for (const [name, open] of drivers) {
  describe(`SQL migrations on ${name}`, () => {
    let dir: string;
    const opened: SqlDriver[] = [];
    const openDb = () => {
      const db = open(join(dir, "db.sqlite"));
      opened.push(db);
      return db;
    };
    afterEach(() => {
      for (const db of opened.splice(0)) db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const fresh = () => {
      dir = mkdtempSync(join(tmpdir(), "batchgate-migrations-"));
      return openDb();
    };

    it("applies every migration once, in order, and records each", () => {
      const db = fresh();
      expect(migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(applied(db)).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      expect(tables(db)).toEqual(
        ["admin_audit", "async_batch_ctx_ids", "async_batch_item_keys", "async_batch_items", "async_batches", "clients", "default_destinations", "fundings", "idempotency", "ledger_entries", "meta", "payment_batches", "payment_item_keys", "payments", "payouts", "schema_migrations", "tokens", "treasury_wallets", "users", "wallets", "webhook_attempts", "webhook_endpoints", "webhook_messages"].sort(),
      );
      expect(migrate(db)).toEqual([]);
    });

    it("reopening the database (a new store) runs nothing again and keeps the data", async () => {
      const db = fresh();
      const store = new SqlStore(db);
      await store.meta.setMeta("k", "v");
      const before = applied(db);
      const again = new SqlStore(openDb());
      expect(await again.meta.getMeta("k")).toBe("v");
      expect(applied(db)).toEqual(before);
    });

    it("runs pending migrations in version order, each after the ones before it", () => {
      const db = fresh();
      const order: Migration[] = [
        { version: 1, name: "one", sql: "CREATE TABLE steps (n INTEGER NOT NULL); INSERT INTO steps VALUES (1);" },
        { version: 2, name: "two", sql: "INSERT INTO steps SELECT MAX(n) + 1 FROM steps;" },
        { version: 3, name: "three", sql: "INSERT INTO steps SELECT MAX(n) + 1 FROM steps;" },
      ];
      expect(migrate(db, order.slice(0, 2))).toEqual([1, 2]);
      expect(migrate(db, order)).toEqual([3]);
      expect(db.all("SELECT n FROM steps ORDER BY n")).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    });

    it("a failing migration rolls back entirely and leaves the version unchanged; fixed, it runs", () => {
      const db = fresh();
      migrate(db);
      const broken: Migration = {
        version: MIGRATIONS.length + 1,
        name: "broken",
        sql: "CREATE TABLE half_done (a INTEGER); INSERT INTO half_done VALUES (1); INSERT INTO no_such_table VALUES (1);",
      };
      expect(() => migrate(db, [...MIGRATIONS, broken])).toThrow(MigrationError);
      expect(() => migrate(db, [...MIGRATIONS, broken])).toThrow(new RegExp(`migration ${MIGRATIONS.length + 1} \\(broken\\) failed and was rolled back`));
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      expect(tables(db)).not.toContain("half_done");
      const fixed = { ...broken, sql: "CREATE TABLE half_done (a INTEGER); INSERT INTO half_done VALUES (1);" };
      expect(migrate(db, [...MIGRATIONS, fixed])).toEqual([MIGRATIONS.length + 1]);
      expect(db.all("SELECT a FROM half_done")).toEqual([{ a: 1 }]);
    });

    it("adopts a database created before versioning (tables, no version table) and keeps its rows", async () => {
      const db = fresh();
      db.exec(MIGRATIONS[0].sql);
      db.run("INSERT INTO users (user_id, email, first_name, last_name, created_at) VALUES ('u1', 'u1@example.com', 'U', 'One', 1)");
      db.run("INSERT INTO wallets (wallet_id, user_id, currency, balance, created_at) VALUES ('w1', 'u1', 'USD', 500, 1)");
      db.run(
        `INSERT INTO payouts (payout_id, user_id, wallet_id, amount, currency, rail, destination, description, status, failure_code, created_at, updated_at)
         VALUES ('po_1', 'u1', 'w1', 100, 'USD', 'ach', '{}', NULL, 'failed', 'destination_rejected', 1, 2)`,
      );
      db.run("INSERT INTO idempotency (scope, key, fingerprint, state, status, body, locked_until, expires_at) VALUES ('s', 'k', 'f', 'in_flight', NULL, NULL, 10, 1000)");
      const store = new SqlStore(db);
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      expect((await store.ledger.getWallet("w1"))?.balance).toBe(500);
      expect(await store.ledger.getPayout("po_1")).toMatchObject({ status: "failed", failureCode: "destination_rejected", failureKind: null });
      // The old in-flight claim (no owner) lapses like any lease and can be taken.
      expect(await store.idempotency.claim({ scope: "s", key: "k", fingerprint: "f", owner: "o", now: 11, leaseMs: 10, retentionMs: 100 })).toEqual({ kind: "claimed" });
    });

    it("refuses a database from a newer gateway, and a migration list out of order", () => {
      const db = fresh();
      migrate(db);
      db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)", [MIGRATIONS.length + 1]);
      expect(() => new SqlStore(db)).toThrow(/newer than this gateway knows/);
      const db2 = openDb();
      expect(() => migrate(db2, [{ version: 2, name: "skips one", sql: "" }])).toThrow(/versions must be 1, 2, 3/);
    });
  });
}
