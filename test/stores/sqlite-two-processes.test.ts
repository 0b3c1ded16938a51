/**
 * Two processes on one SQLite file opening the same user's wallet and the same client's treasury
 * wallet at the same instant (what concurrent payout items for a new recipient do across two
 * gateway processes) end with exactly one wallet each; the ledger's audit still balances. Real
 * processes (test/helpers/sqlite-contender.ts), a real file; the Redis analogue is in
 * test/stores/redis.store.test.ts.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { tempDir } from "../helpers/gateway.js";

const run = promisify(execFile);
const T = 1_800_000_000_000;
const ATTEMPTS = 40;

describe("SQLite, two processes on one file", () => {
  it("concurrent ensureUserWallet and openTreasuryWallet end with one wallet each", async () => {
    const file = join(tempDir("batchgate-two-proc-"), "db.sqlite");
    const store = new SqlStore(openBetterSqlite({ filename: file }));
    await store.ledger.createUser({ userId: "u1", email: "u1@example.com", firstName: "A", lastName: "B", createdAt: T });
    // An older wallet in another currency: the lookup must look past it.
    await store.ledger.createWallet({ walletId: "w_eur", userId: "u1", currency: "EUR", createdAt: T }, 0);
    // Both start at the same instant, after both have opened the file.
    const startAt = String(Date.now() + 3_000);
    const outs = await Promise.all(
      ["a", "b"].map((tag) =>
        run(process.execPath, ["--import", "tsx", "test/helpers/sqlite-contender.ts", file, tag, startAt, String(ATTEMPTS)], { timeout: 60_000 }),
      ),
    );
    const answers = outs.map((o) => JSON.parse(o.stdout) as { users: { opened: boolean; walletId: string }[]; treasuries: { opened: boolean; walletId: string }[] });
    const users = answers.flatMap((a) => a.users);
    const treasuries = answers.flatMap((a) => a.treasuries);
    expect(users).toHaveLength(2 * ATTEMPTS);
    expect(users.filter((u) => u.opened)).toHaveLength(1);
    expect(new Set(users.map((u) => u.walletId)).size).toBe(1);
    expect(treasuries.filter((t) => t.opened)).toHaveLength(1);
    expect(new Set(treasuries.map((t) => t.walletId)).size).toBe(1);
    // Each process's answers agree with the file.
    const wallets = await store.ledger.listWallets("u1");
    expect(wallets.map((w) => w.currency).sort()).toEqual(["EUR", "USD"]);
    expect(wallets.find((w) => w.currency === "USD")!.walletId).toBe(users[0].walletId);
    expect((await store.treasury.listTreasuryWallets(7)).map((w) => w.walletId)).toEqual([treasuries[0].walletId]);
    expect(await store.ledger.audit()).toMatchObject({ walletBalanceSum: 0, entrySum: 0, mismatchedWallets: [] });
    await store.close();
  }, 90_000);
});
