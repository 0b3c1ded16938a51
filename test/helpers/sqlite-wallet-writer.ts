/**
 * Another process writing to a gateway's SQLite file, for test/stores/wallet-cache.test.ts: a
 * payment through its own SqlStore, or a bare SQL statement on its own better-sqlite3 connection
 * (what an operator's SQLite shell would do). Prints the rows changed or the payment outcome.
 *
 *   node --import tsx test/helpers/sqlite-wallet-writer.ts <file> transfer <from> <to> <amount> <paymentId>
 *   node --import tsx test/helpers/sqlite-wallet-writer.ts <file> sql "<statement>"
 */
import Database from "better-sqlite3";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";

const [file, op, ...args] = process.argv.slice(2);
if (op === "transfer") {
  const [from, to, amount, paymentId] = args;
  const store = new SqlStore(openBetterSqlite({ filename: file }));
  const out = await store.ledger.transfer({
    paymentId,
    userId: "u1",
    fromWalletId: from,
    toWalletId: to,
    amount: Number(amount),
    currency: "USD",
    description: null,
    now: Date.now(),
  });
  await store.close();
  process.stdout.write(JSON.stringify({ ok: out.ok }));
} else if (op === "sql") {
  const db = new Database(file);
  db.pragma("busy_timeout = 5000");
  const changes = db.prepare(args[0]).run().changes;
  db.close();
  process.stdout.write(JSON.stringify({ changes }));
} else {
  throw new Error(`unknown operation ${op}`);
}
