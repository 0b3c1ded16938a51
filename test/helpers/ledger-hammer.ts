/**
 * Child process for test/stores/sqlite.conservation.test.ts: opens the shared SQLite file with the
 * project's SqlStore over better-sqlite3 (WAL, busy timeout, as the gateway does) and, round by
 * round on the parent's signal, runs the same ledger operations as every other worker, on the same
 * ids, in the same order: each payment, reversal and payout is asked for by every process at once.
 *
 * Run with `fork(thisFile, [sqliteFile, workerIndex], { execArgv: ["--import", "tsx"] })`.
 * Messages: child → parent `{ ready }`, `{ roundDone, errors }`; parent → child `{ round }`, `{ stop }`.
 */
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import type { PayoutSettlement } from "../../src/ports/ledger.js";

export const WALLETS = 6;
export const FUNDING = 4_000;
export const PAYMENTS_PER_ROUND = 5;
export const RAIL = "hammer";

export const walletId = (w: number) => `w_hammer_${w}`;
export const userId = (w: number) => `u_hammer_${w}`;

/** What payment `pay-<round>-<i>` is: every process asks for exactly the same transfer. */
export function paymentPlan(round: number, i: number) {
  const n = round * PAYMENTS_PER_ROUND + i;
  const from = n % WALLETS;
  const to = (from + 1 + (n % (WALLETS - 1))) % WALLETS;
  return { paymentId: `pay-${round}-${i}`, from, to, amount: 100 + ((n * 733) % 2_400) };
}

/** What payout `po-<round>` is. */
export function payoutPlan(round: number) {
  return { payoutId: `po-${round}`, wallet: (round * 5 + 2) % WALLETS, amount: 300 + ((round * 97) % 500) };
}

async function runRound(store: SqlStore, round: number, worker: number): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (what: string, op: () => Promise<unknown>) => {
    try {
      await op();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  const now = Date.now();
  for (let i = 0; i < PAYMENTS_PER_ROUND; i++) {
    const p = paymentPlan(round, i);
    await attempt(`transfer ${p.paymentId}`, () =>
      store.ledger.transfer({
        paymentId: p.paymentId,
        userId: userId(p.from),
        fromWalletId: walletId(p.from),
        toWalletId: walletId(p.to),
        amount: p.amount,
        currency: "USD",
        description: null,
        now,
      }),
    );
  }
  // Every process reverses the same payments: at most one reversal may move money.
  for (let i = 0; i < PAYMENTS_PER_ROUND; i += 2) {
    const id = paymentPlan(round, i).paymentId;
    await attempt(`reverse ${id}`, () => store.ledger.reversePayment(id, now));
  }
  const po = payoutPlan(round);
  await attempt(`beginPayout ${po.payoutId}`, () =>
    store.ledger.beginPayout({
      payoutId: po.payoutId,
      userId: userId(po.wallet),
      walletId: walletId(po.wallet),
      amount: po.amount,
      currency: "USD",
      rail: RAIL,
      destination: { account: "x" },
      description: null,
      now,
    }),
  );
  // Processes disagree on how the payout settled; only the first transition may apply.
  const settlements: PayoutSettlement[] = [
    { status: "completed", providerReference: `ref-${worker}` },
    { status: "failed", failureCode: "declined", failureKind: "declined" },
    { status: "pending", providerReference: `ref-${worker}` },
  ];
  await attempt(`settlePayout ${po.payoutId}`, () => store.ledger.settlePayout(po.payoutId, settlements[(round + worker) % 3], now));
  await attempt(`cancelPayout ${po.payoutId}`, () => store.ledger.cancelPayout(po.payoutId, now));
  return errors;
}

function main() {
  const [file, workerArg] = process.argv.slice(2);
  const worker = Number(workerArg);
  const store = new SqlStore(openBetterSqlite({ filename: file, synchronous: "NORMAL" }));
  process.on("message", (msg: { round?: number; stop?: true }) => {
    if (msg.stop) {
      void store.close().then(() => process.disconnect());
      return;
    }
    void runRound(store, msg.round!, worker).then((errors) => process.send!({ roundDone: msg.round, errors }));
  });
  process.send!({ ready: true });
}

if (process.send) main();
