/**
 * Payout items run for real (src/core/payout-items.ts through AsyncBatchRunner.runSlice), on a real
 * SQLite file and on the real Redis: every outcome and error code, the recipient's wallet opened on
 * demand, a retry that re-attempts only the rail leg, and the same item run again after a crash at
 * each step moving money once. After each case the ledger's audit proves conservation: wallets
 * (treasury included) plus system accounts sum to zero, nothing new came from system:funding, no
 * wallet's balance differs from its entries.
 *
 * The only stand-ins are rails wrapping the sandbox rail (to count sends per payout id, or to
 * decline once) and ledgers wrapping the real one that die right after a real step (a crash).
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { SandboxRail } from "../../src/adapters/rails/sandbox.js";
import { AsyncBatchRunner } from "../../src/core/async-batch-runner.js";
import { PAYOUT_ERROR_CODES, payoutPayoutId, payoutTransferId, payoutWalletId, runPayoutItem, type PayoutDeps } from "../../src/core/payout-items.js";
import type { BatchRecord } from "../../src/ports/batches.js";
import type { LedgerStore } from "../../src/ports/ledger.js";
import type { RailPayout, RailProvider, RailResult } from "../../src/ports/rails.js";
import { treasuryHolderId } from "../../src/ports/treasury.js";
import { systemClock } from "../../src/services.js";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";
import { ACH, createPayoutBatch, money, payoutItem, type PayoutSpec } from "../helpers/payout-batch.js";
import { deleteRedisPrefix, REDIS_UP, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const sha = (t: string) => nodeHasher.sha256Hex(t);

/** The sandbox rail, counting sends per payout id. */
class CountingRail implements RailProvider {
  readonly sends = new Map<string, number>();
  /** Payout ids answered `declined` once before the sandbox decides. */
  readonly declineOnce = new Set<string>();
  private readonly sandbox = new SandboxRail();
  async send(p: RailPayout, signal: AbortSignal): Promise<RailResult> {
    this.sends.set(p.payoutId, (this.sends.get(p.payoutId) ?? 0) + 1);
    if (this.declineOnce.delete(p.payoutId)) return { status: "declined", reason: "destination_rejected" };
    return this.sandbox.send(p, signal);
  }
}

const gateways: TestGateway[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deleteRedisPrefix(p);
});

const stores = [{ name: "SQLite file", redis: false }, ...(REDIS_UP ? [{ name: "Redis", redis: true }] : [])];

for (const kind of stores) {
  describe(`payout items on ${kind.name}`, () => {
    afterEach(async () => {
      for (const g of gateways.splice(0)) await g.services.store.close();
    });

    async function setup() {
      const env: Record<string, string> = {};
      if (kind.redis) {
        const prefix = uniquePrefix("bgpayexec");
        prefixes.push(prefix);
        Object.assign(env, { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, LOG_LEVEL: "silent" });
      }
      const g = await makeGateway({ file: true, users: 4, env });
      gateways.push(g);
      const store = g.services.store;
      const treasury = store.treasury;
      const clientId = g.creds.clients[0].client_id;
      const rail = new CountingRail();
      const deps: PayoutDeps = { treasury, ledger: store.ledger, rails: rail, clock: systemClock, sha256Hex: sha, logger: g.services.logger, railTimeoutMs: 2_000 };
      const runner = (ledger: LedgerStore = store.ledger) =>
        new AsyncBatchRunner({
          store: store.batches,
          batches: g.services.asyncBatches,
          engine: g.services.engine,
          treasury,
          ledger,
          rails: rail,
          sha256Hex: sha,
          clock: systemClock,
          logger: g.services.logger,
          options: { concurrency: 8, ratePerClient: 100_000, sliceSize: 500, railTimeoutMs: 2_000 },
        });
      /** Opens (or finds) the client's treasury in the currency and funds it once per funding id. */
      async function fundTreasury(currency: string, minor: number, cid = clientId) {
        const w = (await treasury.treasuryWallet(cid, currency)) ?? (await treasury.openTreasuryWallet(cid, `wal_tr_${cid}_${currency}_${Date.now()}`, currency, Date.now())).wallet;
        const f = await store.ledger.fundWallet({ fundingId: `fund_${w.walletId}_${minor}`, walletId: w.walletId, amount: minor, currency, reason: "test", createdAt: Date.now() });
        expect(f.ok).toBe(true);
        return (await store.ledger.getWallet(w.walletId))!;
      }
      async function newUser(tag: string) {
        return g.services.admin.createUser({ email: `${tag}-${Math.random().toString(36).slice(2)}@example.com`, firstName: "New", lastName: tag });
      }
      async function runAll(batchId: string, r = runner()) {
        for (let i = 0; i < 100; i++) {
          const s = await r.runSlice(batchId);
          if (!s.more) return (await store.batches.getBatch(batchId))!;
        }
        throw new Error("the batch never ran out of pending items");
      }
      async function items(batchId: string) {
        return (await store.batches.listItems(batchId, { limit: 1000 })).items;
      }
      async function batchOf(specs: PayoutSpec[]) {
        return createPayoutBatch(store.batches, clientId, specs.map((s, i) => payoutItem(i, s)));
      }
      /** A wallet's entries, oldest first, as [kind, amount, ref]. */
      async function entries(walletId: string) {
        const page = await store.ledger.listWalletEntries(walletId, { limit: 100 });
        return page.data.map((e) => [e.kind, e.amount, e.refId] as const).reverse();
      }
      return { g, store, treasury, clientId, rail, deps, runner, fundTreasury, newUser, runAll, items, batchOf, entries };
    }
    type Ctx = Awaited<ReturnType<typeof setup>>;

    async function expectConserved(c: Ctx, before: Awaited<ReturnType<typeof money>>) {
      const after = await money(c.store.ledger);
      expect(after.total).toBe(0);
      expect(after.entrySum).toBe(0);
      expect(after.mismatched).toEqual([]);
      // No money was made: what came in from funding is what came in before the batch.
      expect(after.system["system:funding"]).toBe(before.system["system:funding"]);
      expect(after.walletSum + Object.entries(after.system).filter(([k]) => k !== "system:funding").reduce((s, [, v]) => s + v, 0)).toBe(
        before.walletSum + Object.entries(before.system).filter(([k]) => k !== "system:funding").reduce((s, [, v]) => s + v, 0),
      );
      return after;
    }

    it("every outcome and error code in one batch; wallets opened on demand; money conserved", async () => {
      const c = await setup();
      const { g, store } = c;
      const tr = await c.fundTreasury("USD", 100_000_00);
      const [u1, u2, u3] = g.creds.users;
      const fresh = await c.newUser("fresh");
      const withDefault = await c.newUser("default");
      await c.treasury.setDefaultDestination(withDefault.userId, "venmo", { handle: "@ada_l" }, Date.now());
      const noDest = await c.newUser("nodest");
      const frozen = await c.newUser("frozen");
      const frozenWallet = (await c.treasury.ensureUserWallet(frozen.userId, "USD", `wal_frozen_${Date.now()}`, Date.now()))!.wallet;
      await store.ledger.setWalletStatus(frozenWallet.walletId, "frozen");
      const before = await money(store.ledger);
      const trBefore = (await store.ledger.getWallet(tr.walletId))!.balance;

      const specs: PayoutSpec[] = [
        { user_id: u1.user_id, amount: "10.00" }, // 0 completed
        { user_id: u1.user_id, amount: "11.00", rail: "check" }, // 1 pending (a mailed check)
        { user_id: u2.user_id, amount: "12.13" }, // 2 retained: declined
        { user_id: u2.user_id, amount: "12.14" }, // 3 retained: unavailable
        { user_id: "usr_nobody_here", amount: "1.00" }, // 4 no such user
        { user_id: treasuryHolderId(c.clientId), amount: "1.00" }, // 5 a treasury is never a recipient
        { user_id: u3.user_id, amount: "1.00", currency: "GBP" }, // 6 no GBP treasury
        { user_id: noDest.userId, amount: "1.00", destination: null }, // 7 no destination, no default
        { user_id: withDefault.userId, amount: "13.00", rail: "venmo", destination: null }, // 8 default destination
        { user_id: frozen.userId, amount: "1.00" }, // 9 recipient wallet frozen
        { user_id: fresh.userId, amount: "14.15" }, // 10 pending (sandbox .15), new wallet
      ];
      const batch = await c.batchOf(specs);
      const done = await c.runAll(batch.batchId);
      expect(done).toMatchObject({ status: "completed_with_failures", totalCount: 11, succeededCount: 4, failedCount: 7 });
      const its = await c.items(batch.batchId);
      const resp = its.map((it) => it.attempts.at(-1)!.response as any);
      const summary = its.map((it, i) => [it.status, it.attempts.at(-1)!.httpStatus, resp[i].outcome, resp[i].error_code]);
      expect(summary).toEqual([
        ["succeeded", 200, "completed", null],
        ["succeeded", 200, "pending", null],
        ["failed", 422, "retained_in_wallet", "RAIL_DECLINED"],
        ["failed", 502, "retained_in_wallet", "RAIL_UNAVAILABLE"],
        ["failed", 422, "failed", "RECIPIENT_NOT_FOUND"],
        ["failed", 422, "failed", "RECIPIENT_NOT_FOUND"],
        ["failed", 422, "failed", "TREASURY_NOT_FOUND"],
        ["failed", 422, "failed", "INVALID_DESTINATION"],
        ["succeeded", 200, "completed", null],
        ["failed", 422, "failed", "WALLET_FROZEN"],
        ["succeeded", 200, "pending", null],
      ]);
      for (const r of resp) expect(PAYOUT_ERROR_CODES.includes(r.error_code) || r.error_code === null).toBe(true);

      // The response object: every field, ids named from the batch, the item and the attempt.
      const u1Wallet = u1.wallets[0].wallet_id;
      expect(resp[0]).toEqual({
        outcome: "completed",
        error_code: null,
        error_message: null,
        wallet_id: u1Wallet,
        transfer_id: await payoutTransferId(sha, batch.batchId, 0),
        payout_id: await payoutPayoutId(sha, batch.batchId, 1, 0),
        payout_status: "completed",
        customer_transaction_id: "ctx_test_0",
      });
      expect(resp[2]).toMatchObject({ wallet_id: u2.wallets[0].wallet_id, payout_status: "failed", error_message: expect.stringContaining("destination_rejected") });
      expect(resp[4]).toEqual({
        outcome: "failed",
        error_code: "RECIPIENT_NOT_FOUND",
        error_message: expect.any(String),
        wallet_id: null,
        transfer_id: null,
        payout_id: null,
        payout_status: null,
        customer_transaction_id: "ctx_test_4",
      });
      // Frozen: the transfer into the frozen wallet was refused, nothing moved.
      expect(resp[9]).toMatchObject({ wallet_id: frozenWallet.walletId, transfer_id: null, payout_id: null });
      expect(await store.ledger.getPayment(await payoutTransferId(sha, batch.batchId, 9))).toBeNull();

      // Recipients' wallets: opened on demand under the derived id, with the default destination.
      const freshWallets = await store.ledger.listWallets(fresh.userId);
      expect(freshWallets.map((w) => w.walletId)).toEqual([await payoutWalletId(sha, fresh.userId, "USD")]);
      expect(freshWallets[0].balance).toBe(0);
      expect(resp[10].wallet_id).toBe(freshWallets[0].walletId);
      const p8 = await store.ledger.getPayout(resp[8].payout_id);
      expect(p8).toMatchObject({ rail: "venmo", destination: { handle: "@ada_l" }, status: "completed", amount: 1300, userId: withDefault.userId });
      expect((await store.ledger.listWallets(noDest.userId)).length).toBe(0);

      // Money: the treasury paid items 0,1,2,3,8,10 once; declined/unavailable stayed with u2.
      const paid = 1000 + 1100 + 1213 + 1214 + 1300 + 1415;
      expect((await store.ledger.getWallet(tr.walletId))!.balance).toBe(trBefore - paid);
      const u2Entries = await c.entries(u2.wallets[0].wallet_id);
      expect(u2Entries[0][0]).toBe("funding");
      const moves = (r: any, a: number) => [
        ["payment", a, r.transfer_id],
        ["payout", -a, r.payout_id],
        ["payout_refund", a, r.payout_id],
      ];
      expect(u2Entries.slice(1).map((e) => e.join(" ")).sort()).toEqual([...moves(resp[2], 1213), ...moves(resp[3], 1214)].map((e) => e.join(" ")).sort());
      const after = await expectConserved(c, before);
      expect(after.system["system:rail:ach"] ?? 0).toBe((before.system["system:rail:ach"] ?? 0) + 1000);
      expect(after.system["system:rail:venmo"] ?? 0).toBe((before.system["system:rail:venmo"] ?? 0) + 1300);
      expect(after.system["system:payouts_in_flight"] - (before.system["system:payouts_in_flight"] ?? 0)).toBe(1100 + 1415);
      // Every payout went to the rail once.
      expect([...c.rail.sends.values()].every((n) => n === 1)).toBe(true);
      expect(c.rail.sends.size).toBe(6);
    });

    it("INSUFFICIENT_FUNDS_RUNTIME once the treasury runs short mid-batch; the rest are paid", async () => {
      const c = await setup();
      const tr = await c.fundTreasury("EUR", 25_00);
      const users = c.g.creds.users;
      const before = await money(c.store.ledger);
      const batch = await c.batchOf(users.map((u) => ({ user_id: u.user_id, amount: "10.00", currency: "EUR" })));
      const done = await c.runAll(batch.batchId);
      expect(done).toMatchObject({ status: "completed_with_failures", succeededCount: 2, failedCount: 2 });
      const resp = (await c.items(batch.batchId)).map((it) => it.attempts.at(-1)!.response as any);
      expect(resp.filter((r) => r.outcome === "completed")).toHaveLength(2);
      const short = resp.filter((r) => r.error_code === "INSUFFICIENT_FUNDS_RUNTIME");
      expect(short).toHaveLength(2);
      for (const r of short) expect(r).toMatchObject({ outcome: "failed", transfer_id: null, payout_id: null });
      expect((await c.store.ledger.getWallet(tr.walletId))!.balance).toBe(5_00);
      // The demo users had no EUR wallet: the paid ones got one, holding nothing after the payout.
      for (const r of resp) {
        const w = await c.store.ledger.getWallet(r.wallet_id);
        expect(w).toMatchObject({ currency: "EUR", balance: 0 });
      }
      await expectConserved(c, before);
    });

    it("a retry of a retained item re-attempts only the rail leg: the recipient is credited once", async () => {
      const c = await setup();
      const tr = await c.fundTreasury("USD", 1_000_00);
      const who = await c.newUser("retry");
      const batch = await c.batchOf([{ user_id: who.userId, amount: "40.00" }]);
      const po1 = await payoutPayoutId(sha, batch.batchId, 1, 0);
      c.rail.declineOnce.add(po1);
      const before = await money(c.store.ledger);
      const trBefore = (await c.store.ledger.getWallet(tr.walletId))!.balance;
      await c.runAll(batch.batchId);
      const [first] = await c.items(batch.batchId);
      expect(first.attempts[0].response).toMatchObject({ outcome: "retained_in_wallet", error_code: "RAIL_DECLINED", payout_id: po1 });
      const walletId = (first.attempts[0].response as any).wallet_id;
      expect((await c.store.ledger.getWallet(walletId))!.balance).toBe(40_00);

      const retried = await c.g.services.asyncBatches.retry(c.clientId, batch.batchId, [0]);
      expect(retried.retried_count).toBe(1);
      const done = await c.runAll(batch.batchId);
      expect(done).toMatchObject({ status: "completed", succeededCount: 1, failedCount: 0 });
      const [item] = await c.items(batch.batchId);
      const po2 = await payoutPayoutId(sha, batch.batchId, 2, 0);
      expect(po2).not.toBe(po1);
      expect(item.attempts.map((a) => (a.response as any).outcome)).toEqual(["retained_in_wallet", "completed"]);
      expect(item.attempts[1].response).toMatchObject({ transfer_id: (first.attempts[0].response as any).transfer_id, payout_id: po2, wallet_id: walletId });
      const transfer = await payoutTransferId(sha, batch.batchId, 0);
      expect(await c.entries(walletId)).toEqual([
        ["payment", 40_00, transfer],
        ["payout", -40_00, po1],
        ["payout_refund", 40_00, po1],
        ["payout", -40_00, po2],
      ]);
      expect((await c.store.ledger.getWallet(tr.walletId))!.balance).toBe(trBefore - 40_00);
      expect(c.rail.sends.get(po1)).toBe(1);
      expect(c.rail.sends.get(po2)).toBe(1);
      await expectConserved(c, before);
    });

    it("RECIPIENT_FUNDS_MOVED when the retained money left the wallet before the retry", async () => {
      const c = await setup();
      await c.fundTreasury("USD", 1_000_00);
      const who = await c.newUser("spender");
      const batch = await c.batchOf([{ user_id: who.userId, amount: "30.13" }]);
      await c.runAll(batch.batchId);
      const walletId = ((await c.items(batch.batchId))[0].attempts[0].response as any).wallet_id;
      // The recipient spends part of it.
      const spent = await c.store.ledger.transfer({ paymentId: `pay_spend_${Date.now()}`, userId: who.userId, fromWalletId: walletId, toWalletId: c.g.creds.users[0].wallets[0].wallet_id, amount: 5_00, currency: "USD", description: null, now: Date.now() });
      expect(spent.ok).toBe(true);
      const before = await money(c.store.ledger);
      await c.g.services.asyncBatches.retry(c.clientId, batch.batchId, [0]);
      await c.runAll(batch.batchId);
      const [item] = await c.items(batch.batchId);
      expect(item.status).toBe("failed");
      expect(item.attempts[1]).toMatchObject({ httpStatus: 422, response: { outcome: "failed", error_code: "RECIPIENT_FUNDS_MOVED", transfer_id: expect.any(String), wallet_id: walletId } });
      expect((await c.store.ledger.getWallet(walletId))!.balance).toBe(25_13);
      expect(await c.store.ledger.getPayout(await payoutPayoutId(sha, batch.batchId, 2, 0))).toBeNull();
      await expectConserved(c, before);
    });

    it("WALLET_FROZEN when the treasury is frozen; nothing moves", async () => {
      const c = await setup();
      const tr = await c.fundTreasury("USD", 1_000_00);
      await c.store.ledger.setWalletStatus(tr.walletId, "frozen");
      const before = await money(c.store.ledger);
      const batch = await c.batchOf([{ user_id: c.g.creds.users[0].user_id, amount: "1.00" }]);
      await c.runAll(batch.batchId);
      const [item] = await c.items(batch.batchId);
      expect(item.attempts[0].response).toMatchObject({ outcome: "failed", error_code: "WALLET_FROZEN", transfer_id: null });
      expect((await money(c.store.ledger)).walletSum).toBe(before.walletSum);
      await expectConserved(c, before);
    });

    it("an item run again after a crash at each step moves money once", async () => {
      const c = await setup();
      const tr = await c.fundTreasury("USD", 1_000_00);
      const a = await c.newUser("crash-a");
      const b = await c.newUser("crash-b");
      const d = await c.newUser("crash-c");
      const e = await c.newUser("crash-d");
      const batch = await c.batchOf([
        { user_id: a.userId, amount: "20.00" }, // dies after the transfer
        { user_id: b.userId, amount: "21.00" }, // dies after beginPayout (before the rail)
        { user_id: d.userId, amount: "22.00" }, // dies after settling (before the outcome is recorded)
        { user_id: e.userId, amount: "23.00" }, // dies after the rail answered, before settling
      ]);
      const before = await money(c.store.ledger);
      const trBefore = (await c.store.ledger.getWallet(tr.walletId))!.balance;
      const its = await c.items(batch.batchId);
      const died = (step: keyof LedgerStore, when: "before" | "after" = "after"): LedgerStore =>
        new Proxy(c.store.ledger, {
          get(target, prop, recv) {
            const v = Reflect.get(target, prop, recv);
            if (typeof v !== "function") return v;
            return async (...args: unknown[]) => {
              if (prop === step && when === "before") throw new Error(`process died before ${String(step)}`);
              const out = await v.apply(target, args);
              if (prop === step) throw new Error(`process died after ${String(step)}`);
              return out;
            };
          },
        });
      // Each run "dies" after the step: its outcome is never recorded (as after kill -9).
      const r0 = await runPayoutItem(batch, its[0], { ...c.deps, ledger: died("transfer") });
      const r1 = await runPayoutItem(batch, its[1], { ...c.deps, ledger: died("beginPayout") });
      const r2 = await runPayoutItem(batch, its[2], { ...c.deps, ledger: died("settlePayout") });
      const r3 = await runPayoutItem(batch, its[3], { ...c.deps, ledger: died("settlePayout", "before") });
      for (const r of [r0, r1, r2, r3]) expect(r.response).toMatchObject({ outcome: "failed", error_code: "PROCESSING_ERROR" });
      expect(r2.httpStatus).toBe(500);
      const ids = await Promise.all([0, 1, 2, 3].map(async (i) => ({ transfer: await payoutTransferId(sha, batch.batchId, i), payout: await payoutPayoutId(sha, batch.batchId, 1, i) })));
      expect(await c.store.ledger.getPayout(ids[0].payout)).toBeNull();
      expect((await c.store.ledger.getPayout(ids[1].payout))!.status).toBe("processing");
      expect((await c.store.ledger.getPayout(ids[2].payout))!.status).toBe("completed");
      expect((await c.store.ledger.getPayout(ids[3].payout))!.status).toBe("processing");
      expect(c.rail.sends.get(ids[3].payout)).toBe(1);
      expect((await c.items(batch.batchId)).every((it) => it.status === "pending")).toBe(true);

      // The restarted runner runs the same items (still pending, same attempt).
      const done = await c.runAll(batch.batchId);
      expect(done).toMatchObject({ status: "completed", succeededCount: 4 });
      const after = await c.items(batch.batchId);
      for (const [i, it] of after.entries()) {
        expect(it.attempts).toHaveLength(1);
        expect(it.attempts[0].response).toMatchObject({ outcome: "completed", transfer_id: ids[i].transfer, payout_id: ids[i].payout, payout_status: "completed" });
        const walletId = (it.attempts[0].response as any).wallet_id;
        const amount = [20_00, 21_00, 22_00, 23_00][i];
        expect(await c.entries(walletId)).toEqual([
          ["payment", amount, ids[i].transfer],
          ["payout", -amount, ids[i].payout],
        ]);
      }
      expect((await c.store.ledger.getWallet(tr.walletId))!.balance).toBe(trBefore - 86_00);
      // The rail: items 0 and 1 once (after the restart), item 2 once (settled before it died), item
      // 3 asked again with the same payout id (it answered, the settlement never happened).
      expect([0, 1, 2, 3].map((i) => c.rail.sends.get(ids[i].payout))).toEqual([1, 1, 1, 2]);
      await expectConserved(c, before);
    });

    it("a retry resumes an earlier attempt's payout left in flight instead of paying out again", async () => {
      const c = await setup();
      await c.fundTreasury("USD", 1_000_00);
      const u = c.g.creds.users[1];
      const wallet = u.wallets[0].wallet_id;
      const batch = await c.batchOf([{ user_id: u.user_id, amount: "50.00" }]);
      const before = await money(c.store.ledger);
      const walletBefore = (await c.store.ledger.getWallet(wallet))!.balance;
      // Attempt 1: the store fails while settling; the outcome recorded is PROCESSING_ERROR.
      const broken = new Proxy(c.store.ledger, {
        get(target, prop, recv) {
          if (prop === "settlePayout") return async () => Promise.reject(new Error("store unavailable"));
          const v = Reflect.get(target, prop, recv);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      await c.runAll(batch.batchId, c.runner(broken));
      const [first] = await c.items(batch.batchId);
      expect(first).toMatchObject({ status: "failed", attempts: [{ httpStatus: 500, response: { outcome: "failed", error_code: "PROCESSING_ERROR" } }] });
      const po1 = await payoutPayoutId(sha, batch.batchId, 1, 0);
      expect((await c.store.ledger.getPayout(po1))!.status).toBe("processing");

      await c.g.services.asyncBatches.retry(c.clientId, batch.batchId, [0]);
      await c.runAll(batch.batchId);
      const [item] = await c.items(batch.batchId);
      expect(item.attempts[1].response).toMatchObject({ outcome: "completed", payout_id: po1 });
      expect(await c.store.ledger.getPayout(await payoutPayoutId(sha, batch.batchId, 2, 0))).toBeNull();
      // The wallet (which holds other money) paid out once: net zero for the recipient.
      expect((await c.store.ledger.getWallet(wallet))!.balance).toBe(walletBefore);
      await expectConserved(c, before);
    });

    it("a malformed stored item fails PROCESSING_ERROR without stopping the slice", async () => {
      const c = await setup();
      await c.fundTreasury("USD", 1_000_00);
      const good = payoutItem(0, { user_id: c.g.creds.users[0].user_id, amount: "1.00" });
      const bad = { ...payoutItem(1, { user_id: c.g.creds.users[0].user_id, amount: "1.00" }), parameters: JSON.stringify({ user_id: 7, amount: 1 }) };
      const negative = { ...payoutItem(2, { user_id: c.g.creds.users[0].user_id, amount: "1.00" }), parameters: JSON.stringify({ user_id: c.g.creds.users[0].user_id, amount: "-1.00", currency: "USD", rail: "ach", destination: ACH }) };
      const batch: BatchRecord = await createPayoutBatch(c.store.batches, c.clientId, [good, bad, negative]);
      const before = await money(c.store.ledger);
      const done = await c.runAll(batch.batchId);
      expect(done).toMatchObject({ status: "completed_with_failures", succeededCount: 1, failedCount: 2 });
      const its = await c.items(batch.batchId);
      expect(its.map((it) => [it.attempts[0].httpStatus, (it.attempts[0].response as any).error_code])).toEqual([
        [200, null],
        [500, "PROCESSING_ERROR"],
        [500, "PROCESSING_ERROR"],
      ]);
      // Not even JSON: still an outcome, not a throw.
      const [first] = its;
      const out = await runPayoutItem(batch, { ...first, parameters: "{not json" }, c.deps);
      expect(out).toMatchObject({ status: "failed", httpStatus: 500, response: { outcome: "failed", error_code: "PROCESSING_ERROR", customer_transaction_id: null } });
      await expectConserved(c, before);
    });

    it("through POST /v1/batches and the gateway's own runner: results, retry of a declined item", async () => {
      const c = await setup();
      const tr = await c.fundTreasury("USD", 1_000_00);
      const trBefore = (await c.store.ledger.getWallet(tr.walletId))!.balance;
      const before = await money(c.store.ledger);
      const cl = c.g.creds.clients[0];
      const auth = `Basic ${btoa(`${cl.client_id}:${cl.client_secret}`)}`;
      const api = async (method: string, path: string, body?: unknown) => {
        const res = await c.g.app.request(path, { method, headers: { authorization: auth, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: res.status, body: (await res.json()) as any };
      };
      const u = c.g.creds.users[2];
      c.g.services.background.start();
      try {
        const made = await api("POST", "/v1/batches", {
          process: true,
          items: [
            { type: "payout", user_id: u.user_id, amount: "3.00", currency: "USD", rail: "paypal", destination: { email: "ada@example.com" }, idempotency_key: "k0" },
            { type: "payout", user_id: u.user_id, amount: "4.13", currency: "USD", rail: "ach", destination: ACH, idempotency_key: "k1", customer_transaction_id: "inv-1" },
          ],
        });
        expect(made.status, JSON.stringify(made.body)).toBe(202);
        const id = made.body.id;
        const ended = async () => {
          for (let i = 0; i < 400; i++) {
            const b = await api("GET", `/v1/batches/${id}`);
            if (b.body.status !== "processing") return b.body;
            await new Promise((r) => setTimeout(r, 25));
          }
          throw new Error("batch never ended");
        };
        expect(await ended()).toMatchObject({ status: "completed_with_failures", succeeded_count: 1, failed_count: 1 });
        const results = (await api("GET", `/v1/batches/${id}/results`)).body.data;
        expect(results[0]).toMatchObject({ type: "payout", status: "succeeded", http_status: 200, response: { outcome: "completed", payout_status: "completed", wallet_id: u.wallets[0].wallet_id } });
        expect(results[1]).toMatchObject({ status: "failed", http_status: 422, customer_transaction_id: "inv-1", response: { outcome: "retained_in_wallet", error_code: "RAIL_DECLINED", customer_transaction_id: "inv-1" } });

        const retry = await api("POST", `/v1/batches/${id}/retry`, { items: [0, 1] });
        expect(retry.status).toBe(202);
        expect(retry.body.items.map((x: any) => x.outcome)).toEqual(["ALREADY_COMPLETED", "RETRYING"]);
        await ended();
        const again = (await api("GET", `/v1/batches/${id}/results`)).body.data[1];
        // The sandbox declines .13 again: a second payout, the same single transfer.
        expect(again.attempts.map((a: any) => a.response.error_code)).toEqual(["RAIL_DECLINED", "RAIL_DECLINED"]);
        expect(again.attempts[1].response.transfer_id).toBe(again.attempts[0].response.transfer_id);
        expect(again.attempts[1].response.payout_id).not.toBe(again.attempts[0].response.payout_id);
        expect((await c.store.ledger.getWallet(tr.walletId))!.balance).toBe(trBefore - 7_13);
        await expectConserved(c, before);
      } finally {
        await c.g.services.background.stop();
      }
    });

    it("the destination on the item wins over the default", async () => {
      const c = await setup();
      await c.fundTreasury("USD", 1_000_00);
      const u = await c.newUser("both");
      await c.treasury.setDefaultDestination(u.userId, "ach", { routing_number: "111000025", account_number: "99999999" }, Date.now());
      const batch = await c.batchOf([{ user_id: u.userId, amount: "2.00", destination: ACH }]);
      await c.runAll(batch.batchId);
      const [item] = await c.items(batch.batchId);
      expect((await c.store.ledger.getPayout((item.attempts[0].response as any).payout_id))!.destination).toEqual(ACH);
    });
  });
}
