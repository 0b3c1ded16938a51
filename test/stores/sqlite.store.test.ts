/**
 * The store contract over SqlStore on better-sqlite3: in memory, and on a file (WAL, like the
 * gateway runs it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { defineStoreContract } from "./store-contract.js";

defineStoreContract("SqlStore on better-sqlite3 :memory:", async () => ({
  store: new SqlStore(openBetterSqlite({ filename: ":memory:" })),
}));

defineStoreContract("SqlStore on a better-sqlite3 file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "batchgate-store-"));
  return {
    store: new SqlStore(openBetterSqlite({ filename: join(dir, "store.sqlite"), synchronous: "NORMAL" })),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});
