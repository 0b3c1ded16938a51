/**
 * The SQL store's snapshot wallet cache (src/adapters/sqlite/sql-store.ts): wallets read inside a
 * read snapshot are kept while the wallets version, which a trigger bumps in the same transaction
 * as every write to the wallets table (migration 12), stays the one they were read at. These tests
 * fill the cache, change a wallet by every path there is (the store's own writes, another
 * connection, another process, a bare SQL statement, a write transaction that rolls back) and
 * check that the next snapshot answers what the table holds. Real SQLite files, real processes.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import type { SqlDriver } from "../../src/adapters/sqlite/driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import type { Wallet } from "../../src/ports/ledger.js";
import { tempDir } from "../helpers/gateway.js";

const run = promisify(execFile);
const T = 1_800_000_000_000;

describe("SQLite snapshot wallet cache", () => {
  let file: string;
  let db: SqlDriver;
  let store: SqlStore;
  let other: Database.Database;

  /** A wallet as a lookup in a batch reads it: inside a read snapshot, through the synchronous reads. */
  const inSnapshot = (walletId: string) => store.readSnapshot(() => store.ledger.sync.getWallet(walletId));
  const version = () => Number(db.get<{ value: string }>("SELECT value FROM meta WHERE key = 'wallets_version'")!.value);
  const tableBalance = (walletId: string) => (other.prepare("SELECT balance FROM wallets WHERE wallet_id = ?").get(walletId) as { balance: number }).balance;

  beforeEach(async () => {
    file = join(tempDir("batchgate-wallet-cache-"), "db.sqlite");
    db = openBetterSqlite({ filename: file, synchronous: "NORMAL" });
    store = new SqlStore(db);
    await store.ledger.createUser({ userId: "u1", email: "u1@example.com", firstName: "A", lastName: "B", createdAt: T });
    await store.ledger.createUser({ userId: "u2", email: "u2@example.com", firstName: "C", lastName: "D", createdAt: T });
    await store.ledger.createWallet({ walletId: "w1", userId: "u1", currency: "USD", createdAt: T }, 10_000);
    await store.ledger.createWallet({ walletId: "w2", userId: "u2", currency: "USD", createdAt: T }, 0);
    // A second connection on the same file: what another process's store is, seen from SQLite.
    other = new Database(file);
    other.pragma("busy_timeout = 5000");
  });
  afterEach(async () => {
    other.close();
    await store.close();
  });

  it("every write to wallets bumps the wallets version, whichever path makes it", async () => {
    const steps: [string, () => Promise<unknown> | unknown][] = [
      ["open a wallet", () => store.ledger.createWallet({ walletId: "w3", userId: "u1", currency: "EUR", createdAt: T }, 0)],
      ["open a funded wallet", () => store.ledger.createWallet({ walletId: "w4", userId: "u2", currency: "EUR", createdAt: T }, 500)],
      ["pay", () => store.ledger.transfer({ paymentId: "p1", userId: "u1", fromWalletId: "w1", toWalletId: "w2", amount: 300, currency: "USD", description: null, now: T })],
      ["reverse a payment", () => store.ledger.reversePayment("p1", T)],
      [
        "begin a payout",
        () => store.ledger.beginPayout({ payoutId: "po1", userId: "u1", walletId: "w1", amount: 200, currency: "USD", rail: "sandbox", destination: {}, description: null, now: T }),
      ],
      ["settle a payout as failed (a refund)", () => store.ledger.settlePayout("po1", { status: "failed", failureCode: "declined_by_rail", failureKind: "declined" }, T)],
      ["fund a wallet (admin)", () => store.ledger.fundWallet({ fundingId: "f1", walletId: "w1", amount: 50, currency: "USD", reason: "test", createdAt: T })],
      ["freeze a wallet (admin)", () => store.ledger.setWalletStatus("w2", "frozen")],
      ["open a recipient's wallet (treasury)", () => store.treasury.ensureUserWallet("u2", "GBP", "w5", T)],
      ["open a treasury wallet", () => store.treasury.openTreasuryWallet(7, "w6", "USD", T)],
      ["a bare UPDATE on another connection", () => other.prepare("UPDATE wallets SET status = 'active' WHERE wallet_id = 'w2'").run()],
      ["a bare DELETE on another connection", () => other.prepare("DELETE FROM wallets WHERE wallet_id = 'w3'").run()],
    ];
    for (const [what, step] of steps) {
      const before = version();
      await step();
      expect(version(), what).toBeGreaterThan(before);
    }
    // Reads and writes to other tables leave it alone.
    const before = version();
    inSnapshot("w1");
    await store.meta.setMeta("something", "else");
    expect(version()).toBe(before);
  });

  it("a snapshot answers the store's own writes: a payment, a reversal, a refund, a freeze", async () => {
    expect(inSnapshot("w1")!.balance).toBe(10_000);
    expect(inSnapshot("w2")!.balance).toBe(0);
    await store.ledger.transfer({ paymentId: "p1", userId: "u1", fromWalletId: "w1", toWalletId: "w2", amount: 300, currency: "USD", description: null, now: T });
    expect(inSnapshot("w1")!.balance).toBe(9_700);
    expect(inSnapshot("w2")!.balance).toBe(300);
    await store.ledger.reversePayment("p1", T);
    expect([inSnapshot("w1")!.balance, inSnapshot("w2")!.balance]).toEqual([10_000, 0]);
    await store.ledger.beginPayout({ payoutId: "po1", userId: "u1", walletId: "w1", amount: 1_000, currency: "USD", rail: "sandbox", destination: {}, description: null, now: T });
    expect(inSnapshot("w1")!.balance).toBe(9_000);
    await store.ledger.settlePayout("po1", { status: "failed", failureCode: "declined_by_rail", failureKind: "declined" }, T);
    expect(inSnapshot("w1")!.balance).toBe(10_000);
    await store.ledger.setWalletStatus("w1", "frozen");
    expect(inSnapshot("w1")!.status).toBe("frozen");
  });

  it("a snapshot answers another connection's committed change, and never its uncommitted one", () => {
    expect(inSnapshot("w1")!.balance).toBe(10_000);
    other.prepare("UPDATE wallets SET balance = 7_777 WHERE wallet_id = 'w1'").run();
    expect(inSnapshot("w1")!.balance).toBe(7_777);
    // Open on the other connection, not committed: the snapshot reads the committed state.
    other.prepare("BEGIN IMMEDIATE").run();
    other.prepare("UPDATE wallets SET balance = 1 WHERE wallet_id = 'w1'").run();
    expect(inSnapshot("w1")!.balance).toBe(7_777);
    other.prepare("ROLLBACK").run();
    expect(inSnapshot("w1")!.balance).toBe(7_777);
    expect(tableBalance("w1")).toBe(7_777);
  });

  it("a snapshot answers a write made by another process, through its store or a bare statement", async () => {
    expect(inSnapshot("w1")!.balance).toBe(10_000);
    expect(inSnapshot("w2")!.balance).toBe(0);
    const writer = (...args: string[]) => run(process.execPath, ["--import", "tsx", "test/helpers/sqlite-wallet-writer.ts", file, ...args], { timeout: 60_000 });
    expect(JSON.parse((await writer("transfer", "w1", "w2", "2500", "p_other")).stdout)).toEqual({ ok: true });
    expect(inSnapshot("w1")!.balance).toBe(7_500);
    expect(inSnapshot("w2")!.balance).toBe(2_500);
    expect(JSON.parse((await writer("sql", "UPDATE wallets SET status = 'frozen' WHERE wallet_id = 'w2'")).stdout)).toEqual({ changes: 1 });
    expect(inSnapshot("w2")!.status).toBe("frozen");
    expect(await store.ledger.audit()).toMatchObject({ walletBalanceSum: 10_000, entrySum: 0, mismatchedWallets: [] });
  }, 90_000);

  it("reads inside a write transaction are not kept: a rolled-back change is never answered later", () => {
    expect(inSnapshot("w1")!.balance).toBe(10_000);
    // A write transaction changes w1, reads it through a nested snapshot (its own uncommitted
    // state, as it should), then rolls back.
    expect(() =>
      db.transaction(() => {
        db.run("UPDATE wallets SET balance = 5 WHERE wallet_id = 'w1'");
        expect(inSnapshot("w1")!.balance).toBe(5);
        throw new Error("roll back");
      }),
    ).toThrow("roll back");
    // Another connection now commits a change that takes the version to the number the
    // rolled-back transaction had seen: had the cache kept the read made inside it, it would
    // answer 5 here.
    other.prepare("UPDATE wallets SET balance = 4_242 WHERE wallet_id = 'w1'").run();
    expect(inSnapshot("w1")!.balance).toBe(4_242);
    expect(store.ledger.sync.getWallet("w1")!.balance).toBe(4_242);
  });

  it("outside a snapshot the synchronous reads go to the table", () => {
    expect(inSnapshot("w1")!.balance).toBe(10_000);
    other.prepare("UPDATE wallets SET balance = 1_234 WHERE wallet_id = 'w1'").run();
    expect(store.ledger.sync.getWallet("w1")!.balance).toBe(1_234);
  });

  it("a kept wallet cannot be changed by the caller it was given to", () => {
    const w = inSnapshot("w1") as Wallet;
    expect(() => {
      (w as { balance: number }).balance = 1;
    }).toThrow(TypeError);
    expect(inSnapshot("w1")!.balance).toBe(10_000);
  });

  it("an unknown wallet is not found, and found once it is opened", async () => {
    expect(inSnapshot("w_new")).toBeNull();
    await store.ledger.createWallet({ walletId: "w_new", userId: "u1", currency: "GBP", createdAt: T }, 0);
    expect(inSnapshot("w_new")).toMatchObject({ walletId: "w_new", currency: "GBP", balance: 0 });
  });
});
