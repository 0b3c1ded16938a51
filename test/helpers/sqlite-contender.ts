/**
 * One contender process for test/stores/sqlite-two-processes.test.ts: opens the SQLite file given
 * on the command line, waits for the shared start instant, then opens the same user's USD wallet
 * and the same client's USD treasury wallet many times, yielding between attempts so the two
 * processes interleave. Prints what each attempt answered, as JSON.
 *
 *   node --import tsx test/helpers/sqlite-contender.ts <file> <tag> <startAtEpochMs> <attempts>
 */
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";

const [file, tag, startAt, attempts] = process.argv.slice(2);
const store = new SqlStore(openBetterSqlite({ filename: file }));
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
const users: { opened: boolean; walletId: string }[] = [];
const treasuries: { opened: boolean; walletId: string }[] = [];
for (let i = 0; i < Number(attempts); i++) {
  const u = await store.treasury.ensureUserWallet("u1", "USD", `w_${tag}_${i}`, Date.now());
  users.push({ opened: u!.opened, walletId: u!.wallet.walletId });
  const t = await store.treasury.openTreasuryWallet(7, `t_${tag}_${i}`, "USD", Date.now());
  treasuries.push({ opened: t.opened, walletId: t.wallet.walletId });
  await new Promise((r) => setImmediate(r));
}
await store.close();
process.stdout.write(JSON.stringify({ users, treasuries }));
