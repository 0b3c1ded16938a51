/**
 * Money is conserved under real interleaving on SQLite: four processes open the same SQLite file
 * with the project's SqlStore (better-sqlite3, WAL, busy timeout) and, released together round by
 * round, each ask for the SAME payments, reversals and payouts by the same ids, in the same order
 * (test/helpers/ledger-hammer.ts). Afterwards every payment and payout id moved money exactly
 * once, every wallet's balance is what the payment and payout records imply, the ledger's entries
 * sum to zero and match the wallets, and wallets plus system accounts hold what they held before.
 *
 * The mutation this catches: SqlStore running its ledger operations without a transaction (its
 * `tx` calling `fn()` directly). Two processes then both pass the "does this payment id exist?"
 * check and both debit. Checked by hand: with that edit to src/adapters/sqlite/sql-store.ts the
 * test failed on 21 runs out of 21, each time at the "moved money once" assertion (3 to 94 of
 * the 360 ids had their payment, reversal or payout entries written two or three times, the
 * wallets disagreed with the payment records, and the retried INSERT's PRIMARY KEY conflict was
 * thrown after the money had already moved).
 */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT, railAccount } from "../../src/adapters/ledger-accounts.js";
import { tempDir } from "../helpers/gateway.js";
import { FUNDING, PAYMENTS_PER_ROUND, RAIL, WALLETS, paymentPlan, payoutPlan, userId, walletId } from "../helpers/ledger-hammer.js";

const PROCESSES = 4;
const ROUNDS = 60;
const hammer = fileURLToPath(new URL("../helpers/ledger-hammer.ts", import.meta.url));

type FromChild = { ready?: true; roundDone?: number; errors?: string[] };

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

function startWorker(file: string, index: number): Promise<ChildProcess> {
  const child = fork(hammer, [file, String(index)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`worker ${index} exited early (${code})`)));
    child.once("message", (m: FromChild) => (m.ready ? resolve(child) : reject(new Error(`worker ${index}: ${JSON.stringify(m)}`))));
  });
}

/** Releases every worker into `round` at once; resolves with their errors when all have finished it. */
function runRound(workers: ChildProcess[], round: number): Promise<string[]> {
  const done = Promise.all(
    workers.map(
      (w, i) =>
        new Promise<string[]>((resolve, reject) => {
          const onExit = (code: number | null) => reject(new Error(`worker ${i} exited (${code}) during round ${round}`));
          const onMessage = (m: FromChild) => {
            if (m.roundDone !== round) return;
            w.off("message", onMessage);
            w.off("exit", onExit);
            resolve(m.errors ?? []);
          };
          w.on("message", onMessage);
          w.once("exit", onExit);
        }),
    ),
  );
  for (const w of workers) w.send({ round });
  return done.then((lists) => lists.flat());
}

describe("money conservation across processes on one SQLite file", () => {
  it("same-id payments, reversals and payouts from four processes move money once and conserve every total", async () => {
    const file = join(tempDir(), "ledger.sqlite");
    const db = openBetterSqlite({ filename: file, synchronous: "NORMAL" });
    const store = new SqlStore(db);
    for (let w = 0; w < WALLETS; w++) {
      await store.ledger.createUser({ userId: userId(w), email: `${w}@example.test`, firstName: "H", lastName: String(w), createdAt: 0 });
      await store.ledger.createWallet({ walletId: walletId(w), userId: userId(w), currency: "USD", createdAt: 0 }, FUNDING);
    }
    const before = await store.ledger.audit();
    expect(before.walletBalanceSum).toBe(WALLETS * FUNDING);

    const workers = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => startWorker(file, i)));
    for (const w of workers) w.removeAllListeners("exit");
    const errors: string[] = [];
    for (let round = 0; round < ROUNDS; round++) errors.push(...(await runRound(workers, round)));
    await Promise.all(
      workers.map((w) => {
        const exited = new Promise((r) => w.once("exit", r));
        w.send({ stop: true });
        return exited;
      }),
    );

    // Each payment id moved money once: one pair of payment entries if it exists, one pair of
    // reversal entries if (and only if) it was reversed.
    const entries = new Map<string, number>();
    for (const r of db.all<{ ref_id: string; kind: string; n: number }>("SELECT ref_id, kind, COUNT(*) AS n FROM ledger_entries GROUP BY ref_id, kind")) {
      entries.set(`${r.kind}:${r.ref_id}`, Number(r.n));
    }
    const moved = (kind: string, ref: string) => entries.get(`${kind}:${ref}`) ?? 0;
    const expected = new Map<string, number>();
    for (let w = 0; w < WALLETS; w++) expected.set(walletId(w), FUNDING);
    const add = (wallet: string, amount: number) => expected.set(wallet, expected.get(wallet)! + amount);
    const statuses = { completed: 0, reversed: 0, absent: 0 };
    const movedTwice: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < PAYMENTS_PER_ROUND; i++) {
        const plan = paymentPlan(round, i);
        const p = await store.ledger.getPayment(plan.paymentId);
        const want = { payment: p ? 2 : 0, reversal: p?.status === "reversed" ? 2 : 0 };
        const got = { payment: moved("payment", plan.paymentId), reversal: moved("reversal", plan.paymentId) };
        if (got.payment !== want.payment || got.reversal !== want.reversal) movedTwice.push(`${plan.paymentId} ${JSON.stringify(got)}`);
        if (!p) {
          statuses.absent++;
          continue;
        }
        expect(p).toMatchObject({ fromWalletId: walletId(plan.from), toWalletId: walletId(plan.to), amount: plan.amount });
        statuses[p.status]++;
        if (p.status === "completed") {
          add(p.fromWalletId, -p.amount);
          add(p.toWalletId, p.amount);
        }
      }
    }
    const payoutStatuses: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const plan = payoutPlan(round);
      const po = await store.ledger.getPayout(plan.payoutId);
      const want = {
        payout: po ? 2 : 0,
        payout_settled: po?.status === "completed" ? 2 : 0,
        payout_refund: po?.status === "failed" ? 2 : 0,
        payout_cancel: po?.status === "cancelled" ? 2 : 0,
      };
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, moved(k, plan.payoutId)]));
      if (JSON.stringify(got) !== JSON.stringify(want)) movedTwice.push(`${plan.payoutId} ${JSON.stringify(got)}`);
      if (!po) continue;
      payoutStatuses[po.status] = (payoutStatuses[po.status] ?? 0) + 1;
      if (po.status !== "failed" && po.status !== "cancelled") add(po.walletId, -po.amount);
    }
    expect(movedTwice, "ids whose money moved more than once").toEqual([]);

    // Every wallet holds exactly what the payment and payout records say it should.
    const balances = new Map((await Promise.all([...expected.keys()].map((id) => store.ledger.getWallet(id)))).map((w) => [w!.walletId, w!.balance]));
    expect(Object.fromEntries(balances)).toEqual(Object.fromEntries(expected));

    // The double-entry ledger: balanced, matching the wallets, and wallets + system accounts conserved.
    const after = await store.ledger.audit();
    expect(after.entrySum).toBe(0);
    expect(after.mismatchedWallets).toEqual([]);
    expect(after.systemAccounts[SYSTEM_FUNDING]).toBe(before.systemAccounts[SYSTEM_FUNDING]);
    const systemSum = (a: typeof after) => Object.values(a.systemAccounts).reduce((s, v) => s + v, 0);
    expect(after.walletBalanceSum + systemSum(after)).toBe(before.walletBalanceSum + systemSum(before));
    expect(after.walletBalanceSum + (after.systemAccounts[SYSTEM_PAYOUTS_IN_FLIGHT] ?? 0) + (after.systemAccounts[railAccount(RAIL)] ?? 0)).toBe(
      before.walletBalanceSum,
    );
    expect([...balances.values()].every((b) => b >= 0)).toBe(true);

    // No operation threw (a retried id must be answered, not fail on a duplicate row).
    expect(errors).toEqual([]);

    // The workload did exercise every path: completed, reversed and refused payments; payouts settled each way.
    expect(statuses.completed).toBeGreaterThan(0);
    expect(statuses.reversed).toBeGreaterThan(0);
    expect(statuses.absent).toBeGreaterThan(0);
    expect(Object.keys(payoutStatuses).length).toBeGreaterThanOrEqual(3);
    await store.close();
  });
});
