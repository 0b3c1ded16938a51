/**
 * The store contract: what every Store implementation (SQL over better-sqlite3 or Durable Object
 * storage, Redis) must do, port by port. Each implementation's test file calls
 * defineStoreContract with a factory returning a fresh, empty store.
 *
 * Time is always the `now` passed in (a fake clock), never the wall clock, so expiry rules are
 * tested without sleeping.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT, railAccount } from "../../src/adapters/ledger-accounts.js";
import type { TokenRecord } from "../../src/ports/credentials.js";
import type { Wallet } from "../../src/ports/ledger.js";
import type { Store } from "../../src/ports/store.js";
import { defineBatchStoreContract } from "./batch-store-contract.js";

export interface StoreUnderTest {
  store: Store;
  /** Runs after store.close(): remove files, keys... */
  cleanup?: () => Promise<void> | void;
}

export type StoreFactory = () => Promise<StoreUnderTest>;

const T0 = 1_800_000_000_000;

export function defineStoreContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let cleanup: StoreUnderTest["cleanup"];
    let seq = 0;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });
    afterEach(async () => {
      await store.close();
      await cleanup?.();
    });

    const user = async (userId = `usr_${++seq}`) => {
      await store.ledger.createUser({ userId, email: `${userId}@example.com`, firstName: "Ada", lastName: "Lovelace", createdAt: T0 });
      return userId;
    };
    const wallet = async (userId: string, funding: number, opts: { walletId?: string; currency?: string; createdAt?: number } = {}) =>
      store.ledger.createWallet({ walletId: opts.walletId ?? `wal_${++seq}`, userId, currency: opts.currency ?? "USD", createdAt: opts.createdAt ?? T0 }, funding);
    const balance = async (walletId: string) => (await store.ledger.getWallet(walletId))!.balance;
    const transfer = (from: Wallet, to: Wallet, amount: number, extra: { paymentId?: string; currency?: string; description?: string | null; now?: number } = {}) =>
      store.ledger.transfer({
        paymentId: extra.paymentId ?? `pay_${++seq}`,
        userId: from.userId,
        fromWalletId: from.walletId,
        toWalletId: to.walletId,
        amount,
        currency: extra.currency ?? "USD",
        description: extra.description === undefined ? null : extra.description,
        now: extra.now ?? T0 + 1000,
      });
    const payout = (w: Wallet, amount: number, extra: { payoutId?: string; currency?: string; rail?: string } = {}) =>
      store.ledger.beginPayout({
        payoutId: extra.payoutId ?? `po_${++seq}`,
        userId: w.userId,
        walletId: w.walletId,
        amount,
        currency: extra.currency ?? "USD",
        rail: extra.rail ?? "ach",
        destination: { account_number: "000123456789", routing_number: "110000000", name: "Zoë \"Q\" / ü" },
        description: "rent",
        now: T0 + 2000,
      });
    /** A clean double-entry ledger: entries and accounts sum to zero, every wallet matches its entries. */
    const expectBalancedLedger = async () => {
      const a = await store.ledger.audit();
      expect(a.entrySum).toBe(0);
      expect(a.mismatchedWallets).toEqual([]);
      expect(a.walletBalanceSum + Object.values(a.systemAccounts).reduce((s, v) => s + v, 0)).toBe(0);
      return a;
    };

    describe("clients", () => {
      it("round-trips a client and answers null for an unknown id", async () => {
        const c = { clientId: 100001, name: "Acme", secretHash: "ab".repeat(32), createdAt: T0 };
        await store.clients.createClient(c);
        expect(await store.clients.findClient(100001)).toEqual(c);
        expect(await store.clients.findClient(100002)).toBeNull();
      });
      it("rejects a duplicate client id and keeps the first", async () => {
        const c = { clientId: 7, name: "First", secretHash: "aa", createdAt: T0 };
        await store.clients.createClient(c);
        await expect(store.clients.createClient({ ...c, name: "Second", secretHash: "bb" })).rejects.toThrow();
        expect(await store.clients.findClient(7)).toEqual(c);
      });
    });

    describe("tokens", () => {
      it("round-trips tokens (scopes, expiry or none, revoked) by hash", async () => {
        const u = await user();
        const t1: TokenRecord = { tokenHash: "1".repeat(64), userId: u, scopes: ["payments:read", "payments:write"], expiresAt: null, revoked: false, createdAt: T0 };
        const t2: TokenRecord = { tokenHash: "2".repeat(64), userId: u, scopes: [], expiresAt: T0 + 3600_000, revoked: true, createdAt: T0 + 1 };
        await store.tokens.createToken(t1);
        await store.tokens.createToken(t2);
        expect(await store.tokens.findToken(t1.tokenHash)).toEqual(t1);
        expect(await store.tokens.findToken(t2.tokenHash)).toEqual(t2);
        expect(await store.tokens.findToken("3".repeat(64))).toBeNull();
      });
      it("rejects a duplicate token hash and keeps the first", async () => {
        const u = await user();
        const t: TokenRecord = { tokenHash: "f".repeat(64), userId: u, scopes: ["a"], expiresAt: null, revoked: false, createdAt: T0 };
        await store.tokens.createToken(t);
        await expect(store.tokens.createToken({ ...t, scopes: ["a", "b"], revoked: true })).rejects.toThrow();
        expect(await store.tokens.findToken(t.tokenHash)).toEqual(t);
      });
      it("rejects a token for an unknown user", async () => {
        await expect(
          store.tokens.createToken({ tokenHash: "e".repeat(64), userId: "usr_nobody", scopes: [], expiresAt: null, revoked: false, createdAt: T0 }),
        ).rejects.toThrow();
        expect(await store.tokens.findToken("e".repeat(64))).toBeNull();
      });
    });

    describe("users and wallets", () => {
      it("round-trips a user; rejects a duplicate user id; null for unknown", async () => {
        const u = { userId: "usr_a", email: "a@example.com", firstName: "Zoë", lastName: "O'Neil", createdAt: T0 };
        await store.ledger.createUser(u);
        expect(await store.ledger.getUser("usr_a")).toEqual(u);
        await expect(store.ledger.createUser({ ...u, email: "b@example.com" })).rejects.toThrow();
        expect(await store.ledger.getUser("usr_a")).toEqual(u);
        expect(await store.ledger.getUser("usr_b")).toBeNull();
      });
      it("creates funded and empty wallets, with the funding on the ledger", async () => {
        const u = await user();
        const w = await wallet(u, 12_345, { walletId: "wal_x", createdAt: T0 + 5 });
        expect(w).toEqual({ walletId: "wal_x", userId: u, currency: "USD", balance: 12_345, createdAt: T0 + 5 });
        expect(await store.ledger.getWallet("wal_x")).toEqual(w);
        const empty = await wallet(u, 0, { currency: "EUR" });
        expect(await balance(empty.walletId)).toBe(0);
        expect(await store.ledger.getWallet("wal_missing")).toBeNull();
        const a = await expectBalancedLedger();
        expect(a.walletBalanceSum).toBe(12_345);
        expect(a.systemAccounts[SYSTEM_FUNDING]).toBe(-12_345);
      });
      it("rejects a duplicate wallet id (keeping the first, no extra funding) and a wallet for an unknown user", async () => {
        const u = await user();
        await wallet(u, 100, { walletId: "wal_dup" });
        await expect(wallet(u, 500, { walletId: "wal_dup" })).rejects.toThrow();
        await expect(wallet("usr_nobody", 500, { walletId: "wal_orphan" })).rejects.toThrow();
        expect(await balance("wal_dup")).toBe(100);
        expect(await store.ledger.getWallet("wal_orphan")).toBeNull();
        const a = await expectBalancedLedger();
        expect(a.walletBalanceSum).toBe(100);
      });
      it("lists a user's wallets ordered by createdAt, then walletId", async () => {
        const u = await user();
        const other = await user();
        await wallet(u, 1, { walletId: "wal_c", createdAt: T0 + 2 });
        await wallet(u, 2, { walletId: "wal_z", createdAt: T0 + 1 });
        await wallet(other, 3, { walletId: "wal_other", createdAt: T0 });
        await wallet(u, 4, { walletId: "wal_b", createdAt: T0 + 1 });
        await wallet(u, 5, { walletId: "wal_B", createdAt: T0 + 1 });
        const list = await store.ledger.listWallets(u);
        expect(list.map((w) => w.walletId)).toEqual(["wal_B", "wal_b", "wal_z", "wal_c"]);
        expect(list.map((w) => w.balance)).toEqual([5, 4, 2, 1]);
        expect(list[0]).toEqual({ walletId: "wal_B", userId: u, currency: "USD", balance: 5, createdAt: T0 + 1 });
        expect(await store.ledger.listWallets("usr_nobody")).toEqual([]);
      });
    });

    describe("transfers", () => {
      it("moves money and records the payment", async () => {
        const a = await wallet(await user(), 10_000);
        const b = await wallet(await user(), 500);
        const r = await transfer(a, b, 2_501, { paymentId: "pay_1", description: "dinner ✓", now: T0 + 42 });
        expect(r).toEqual({
          ok: true,
          payment: {
            paymentId: "pay_1",
            userId: a.userId,
            fromWalletId: a.walletId,
            toWalletId: b.walletId,
            amount: 2_501,
            currency: "USD",
            description: "dinner ✓",
            status: "completed",
            createdAt: T0 + 42,
            reversedAt: null,
          },
        });
        expect(await store.ledger.getPayment("pay_1")).toEqual(r.ok && r.payment);
        expect(await balance(a.walletId)).toBe(7_499);
        expect(await balance(b.walletId)).toBe(3_001);
        const noDescription = await transfer(a, b, 1);
        expect(noDescription.ok && (await store.ledger.getPayment(noDescription.payment.paymentId))!.description).toBeNull();
        expect(await store.ledger.getPayment("pay_missing")).toBeNull();
        await expectBalancedLedger();
      });
      it("can empty a wallet exactly, and not one minor unit more", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        expect((await transfer(a, b, 1_000)).ok).toBe(true);
        expect(await transfer(a, b, 1)).toEqual({ ok: false, reason: "insufficient_funds" });
        expect(await balance(a.walletId)).toBe(0);
        expect(await balance(b.walletId)).toBe(1_000);
      });
      it("insufficient funds changes nothing and records no payment", async () => {
        const a = await wallet(await user(), 999);
        const b = await wallet(await user(), 50);
        const before = await store.ledger.audit();
        expect(await transfer(a, b, 1_000, { paymentId: "pay_nsf" })).toEqual({ ok: false, reason: "insufficient_funds" });
        expect(await balance(a.walletId)).toBe(999);
        expect(await balance(b.walletId)).toBe(50);
        expect(await store.ledger.getPayment("pay_nsf")).toBeNull();
        expect(await store.ledger.audit()).toEqual(before);
      });
      it("currency mismatch on either side changes nothing", async () => {
        const u = await user();
        const usd = await wallet(u, 1_000);
        const eur = await wallet(u, 1_000, { currency: "EUR" });
        expect(await transfer(usd, eur, 10)).toEqual({ ok: false, reason: "currency_mismatch" });
        expect(await transfer(eur, usd, 10, { currency: "EUR" })).toEqual({ ok: false, reason: "currency_mismatch" });
        expect(await transfer(usd, usd, 10, { currency: "EUR" })).toEqual({ ok: false, reason: "currency_mismatch" });
        expect(await balance(usd.walletId)).toBe(1_000);
        expect(await balance(eur.walletId)).toBe(1_000);
      });
      it("an unknown wallet on either side is not_found", async () => {
        const a = await wallet(await user(), 1_000);
        const ghost: Wallet = { walletId: "wal_ghost", userId: a.userId, currency: "USD", balance: 0, createdAt: T0 };
        expect(await transfer(a, ghost, 10)).toEqual({ ok: false, reason: "not_found" });
        expect(await transfer(ghost, a, 10)).toEqual({ ok: false, reason: "not_found" });
        expect(await balance(a.walletId)).toBe(1_000);
      });
      it("is idempotent by payment id: a repeat returns the existing payment and moves nothing", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        const first = await transfer(a, b, 100, { paymentId: "pay_same", description: "first", now: T0 + 1 });
        expect(first.ok).toBe(true);
        const payment = first.ok && first.payment;
        // Whatever the repeat asks for (another amount, more than the balance, unknown wallets), it gets the payment.
        expect(await transfer(a, b, 100, { paymentId: "pay_same", now: T0 + 2 })).toEqual({ ok: true, payment });
        expect(await transfer(a, b, 5_000, { paymentId: "pay_same", description: "second" })).toEqual({ ok: true, payment });
        expect(await transfer({ ...a, walletId: "wal_ghost" }, b, 1, { paymentId: "pay_same" })).toEqual({ ok: true, payment });
        expect(await balance(a.walletId)).toBe(900);
        expect(await balance(b.walletId)).toBe(100);
        // A reversed payment is returned as it is now.
        await store.ledger.reversePayment("pay_same", T0 + 3);
        expect(await transfer(a, b, 100, { paymentId: "pay_same" })).toEqual({ ok: true, payment: { ...payment, status: "reversed", reversedAt: T0 + 3 } });
        expect(await balance(a.walletId)).toBe(1_000);
        await expectBalancedLedger();
      });
      it("concurrent repeats of one payment id pay once", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        const rs = await Promise.all(Array.from({ length: 30 }, () => transfer(a, b, 70, { paymentId: "pay_retry" })));
        expect(rs.every((r) => r.ok && r.payment.paymentId === "pay_retry" && r.payment.amount === 70)).toBe(true);
        expect(await balance(a.walletId)).toBe(930);
        expect(await balance(b.walletId)).toBe(70);
        await expectBalancedLedger();
      });
      it("rejects zero, negative and fractional amounts without moving money", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 1_000);
        await expect(transfer(a, b, 0)).rejects.toThrow();
        await expect(transfer(a, b, -500)).rejects.toThrow();
        await expect(transfer(a, b, 1.5)).rejects.toThrow();
        await expect(payout(a, 0.25)).rejects.toThrow();
        expect(await balance(a.walletId)).toBe(1_000);
        expect(await balance(b.walletId)).toBe(1_000);
        await expectBalancedLedger();
      });
      it("a transfer to the same wallet needs the funds and changes no balance", async () => {
        const a = await wallet(await user(), 100);
        expect(await transfer(a, a, 101)).toEqual({ ok: false, reason: "insufficient_funds" });
        expect((await transfer(a, a, 100)).ok).toBe(true);
        expect(await balance(a.walletId)).toBe(100);
        await expectBalancedLedger();
      });
      it("handles amounts up to 2^53 - 1 exactly", async () => {
        const big = Number.MAX_SAFE_INTEGER;
        const a = await wallet(await user(), big);
        const b = await wallet(await user(), 0);
        expect((await transfer(a, b, big - 1)).ok).toBe(true);
        expect(await balance(a.walletId)).toBe(1);
        expect(await balance(b.walletId)).toBe(big - 1);
        const audit = await expectBalancedLedger();
        expect(audit.walletBalanceSum).toBe(big);
        expect(audit.systemAccounts[SYSTEM_FUNDING]).toBe(-big);
      });
    });

    describe("reversals", () => {
      it("reverses a payment once, then says payment_not_reversible", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        const p = await transfer(a, b, 300, { paymentId: "pay_r" });
        expect(p.ok).toBe(true);
        const r = await store.ledger.reversePayment("pay_r", T0 + 9_000);
        expect(r).toEqual({ ok: true, payment: { ...(p.ok && p.payment), status: "reversed", reversedAt: T0 + 9_000 } });
        expect(await store.ledger.getPayment("pay_r")).toEqual(r.ok && r.payment);
        expect(await balance(a.walletId)).toBe(1_000);
        expect(await balance(b.walletId)).toBe(0);
        expect(await store.ledger.reversePayment("pay_r", T0 + 9_001)).toEqual({ ok: false, reason: "payment_not_reversible" });
        expect(await store.ledger.reversePayment("pay_none", T0)).toEqual({ ok: false, reason: "not_found" });
        expect(await balance(a.walletId)).toBe(1_000);
        await expectBalancedLedger();
      });
      it("does not reverse when the payee no longer holds the amount", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        const c = await wallet(await user(), 0);
        await transfer(a, b, 400, { paymentId: "pay_spent" });
        await transfer(b, c, 250);
        expect(await store.ledger.reversePayment("pay_spent", T0 + 5)).toEqual({ ok: false, reason: "insufficient_funds" });
        expect(await balance(a.walletId)).toBe(600);
        expect(await balance(b.walletId)).toBe(150);
        const p = await store.ledger.getPayment("pay_spent");
        expect(p!.status).toBe("completed");
        expect(p!.reversedAt).toBeNull();
        await expectBalancedLedger();
      });
    });

    describe("payouts", () => {
      it("begins a payout: debits the wallet into payouts in flight, status processing", async () => {
        const w = await wallet(await user(), 5_000);
        const r = await payout(w, 1_200, { payoutId: "po_1" });
        expect(r).toEqual({
          ok: true,
          payout: {
            payoutId: "po_1",
            userId: w.userId,
            walletId: w.walletId,
            amount: 1_200,
            currency: "USD",
            rail: "ach",
            destination: { account_number: "000123456789", routing_number: "110000000", name: "Zoë \"Q\" / ü" },
            description: "rent",
            status: "processing",
            failureCode: null,
            failureKind: null,
            providerReference: null,
            createdAt: T0 + 2000,
            updatedAt: T0 + 2000,
          },
        });
        expect(await store.ledger.getPayout("po_1")).toEqual(r.ok && r.payout);
        expect(await balance(w.walletId)).toBe(3_800);
        const a = await expectBalancedLedger();
        expect(a.systemAccounts[SYSTEM_PAYOUTS_IN_FLIGHT]).toBe(1_200);
        expect(await store.ledger.getPayout("po_none")).toBeNull();
      });
      it("refuses a payout without funds, in another currency, from an unknown wallet, or of zero", async () => {
        const w = await wallet(await user(), 100);
        expect(await payout(w, 101)).toEqual({ ok: false, reason: "insufficient_funds" });
        expect(await payout(w, 10, { currency: "EUR" })).toEqual({ ok: false, reason: "currency_mismatch" });
        expect(await payout({ ...w, walletId: "wal_ghost" }, 10)).toEqual({ ok: false, reason: "not_found" });
        await expect(payout(w, 0)).rejects.toThrow();
        await expect(payout(w, -5)).rejects.toThrow();
        expect(await balance(w.walletId)).toBe(100);
        await expectBalancedLedger();
      });
      it("is idempotent by payout id: a repeat returns the payout in its current state and moves nothing", async () => {
        const w = await wallet(await user(), 1_000);
        const first = await payout(w, 300, { payoutId: "po_same" });
        expect(first.ok).toBe(true);
        expect(await payout(w, 999, { payoutId: "po_same", rail: "card" })).toEqual(first);
        const done = await store.ledger.settlePayout("po_same", { status: "completed", providerReference: "r" }, T0 + 3000);
        expect(await payout(w, 300, { payoutId: "po_same" })).toEqual({ ok: true, payout: done });
        const rs = await Promise.all(Array.from({ length: 20 }, () => payout(w, 300, { payoutId: "po_same" })));
        expect(rs.every((r) => r.ok && r.payout.status === "completed")).toBe(true);
        expect(await balance(w.walletId)).toBe(700);
        await expectBalancedLedger();
      });
      it("processing → completed moves the money to the rail; then it is final", async () => {
        const w = await wallet(await user(), 1_000);
        await payout(w, 700, { payoutId: "po_c", rail: "card" });
        const done = await store.ledger.settlePayout("po_c", { status: "completed", providerReference: "ref_1" }, T0 + 3000);
        expect(done).toMatchObject({ status: "completed", providerReference: "ref_1", failureCode: null, failureKind: null, updatedAt: T0 + 3000, createdAt: T0 + 2000 });
        expect(await store.ledger.getPayout("po_c")).toEqual(done);
        // Final: a late failure or cancellation changes nothing.
        expect(await store.ledger.settlePayout("po_c", { status: "failed", failureCode: "late", failureKind: "declined" }, T0 + 4000)).toEqual(done);
        expect(await store.ledger.settlePayout("po_c", { status: "pending", providerReference: "x" }, T0 + 4000)).toEqual(done);
        expect(await store.ledger.cancelPayout("po_c", T0 + 4000)).toEqual({ ok: false, reason: "payout_not_cancellable" });
        expect(await balance(w.walletId)).toBe(300);
        const a = await expectBalancedLedger();
        expect(a.systemAccounts[railAccount("card")]).toBe(700);
        expect(a.systemAccounts[SYSTEM_PAYOUTS_IN_FLIGHT]).toBe(0);
      });
      it("processing → failed refunds the wallet; then it is final", async () => {
        const w = await wallet(await user(), 1_000);
        await payout(w, 400, { payoutId: "po_f" });
        const failed = await store.ledger.settlePayout("po_f", { status: "failed", failureCode: "account_closed", failureKind: "declined" }, T0 + 3000);
        expect(failed).toMatchObject({ status: "failed", failureCode: "account_closed", failureKind: "declined", providerReference: null, updatedAt: T0 + 3000 });
        expect(await balance(w.walletId)).toBe(1_000);
        expect(await store.ledger.settlePayout("po_f", { status: "completed", providerReference: "r" }, T0 + 4000)).toEqual(failed);
        expect(await store.ledger.cancelPayout("po_f", T0 + 4000)).toEqual({ ok: false, reason: "payout_not_cancellable" });
        expect(await balance(w.walletId)).toBe(1_000);
        const a = await expectBalancedLedger();
        expect(a.systemAccounts[SYSTEM_PAYOUTS_IN_FLIGHT]).toBe(0);
      });
      it("processing → pending keeps the money in flight; pending → pending changes nothing; pending → completed settles", async () => {
        const w = await wallet(await user(), 1_000);
        await payout(w, 250, { payoutId: "po_p", rail: "check" });
        const pending = await store.ledger.settlePayout("po_p", { status: "pending", providerReference: "chk_1" }, T0 + 3000);
        expect(pending).toMatchObject({ status: "pending", providerReference: "chk_1", failureCode: null, updatedAt: T0 + 3000 });
        expect(await store.ledger.settlePayout("po_p", { status: "pending", providerReference: "chk_2" }, T0 + 3500)).toEqual(pending);
        expect((await store.ledger.audit()).systemAccounts[SYSTEM_PAYOUTS_IN_FLIGHT]).toBe(250);
        const done = await store.ledger.settlePayout("po_p", { status: "completed", providerReference: "chk_3" }, T0 + 4000);
        expect(done).toMatchObject({ status: "completed", providerReference: "chk_3", updatedAt: T0 + 4000 });
        expect(await balance(w.walletId)).toBe(750);
        const a = await expectBalancedLedger();
        expect(a.systemAccounts[railAccount("check")]).toBe(250);
      });
      it("pending → failed refunds and replaces the provider reference with the failure code", async () => {
        const w = await wallet(await user(), 1_000);
        await payout(w, 250, { payoutId: "po_pf" });
        await store.ledger.settlePayout("po_pf", { status: "pending", providerReference: "ref" }, T0 + 3000);
        const failed = await store.ledger.settlePayout("po_pf", { status: "failed", failureCode: "returned", failureKind: "unavailable" }, T0 + 4000);
        expect(failed).toMatchObject({ status: "failed", failureCode: "returned", failureKind: "unavailable", providerReference: null });
        expect(await balance(w.walletId)).toBe(1_000);
        await expectBalancedLedger();
      });
      it("cancels only a pending payout, refunding it once", async () => {
        const w = await wallet(await user(), 1_000);
        await payout(w, 600, { payoutId: "po_x" });
        expect(await store.ledger.cancelPayout("po_x", T0 + 2500)).toEqual({ ok: false, reason: "payout_not_cancellable" });
        await store.ledger.settlePayout("po_x", { status: "pending", providerReference: "ref_p" }, T0 + 3000);
        const r = await store.ledger.cancelPayout("po_x", T0 + 5000);
        expect(r.ok).toBe(true);
        expect(r.ok && r.payout).toMatchObject({ status: "cancelled", updatedAt: T0 + 5000, providerReference: "ref_p", failureCode: null });
        expect(await store.ledger.getPayout("po_x")).toEqual(r.ok && r.payout);
        expect(await balance(w.walletId)).toBe(1_000);
        expect(await store.ledger.cancelPayout("po_x", T0 + 6000)).toEqual({ ok: false, reason: "payout_not_cancellable" });
        expect(await store.ledger.settlePayout("po_x", { status: "completed", providerReference: "late" }, T0 + 6000)).toEqual(r.ok && r.payout);
        expect(await store.ledger.cancelPayout("po_none", T0)).toEqual({ ok: false, reason: "not_found" });
        expect(await store.ledger.settlePayout("po_none", { status: "completed", providerReference: "r" }, T0)).toBeNull();
        expect(await balance(w.walletId)).toBe(1_000);
        await expectBalancedLedger();
      });
    });

    describe("audit", () => {
      it("is balanced after a mix of every movement, with the system accounts it expects", async () => {
        const u1 = await user();
        const u2 = await user();
        const a = await wallet(u1, 10_000);
        const b = await wallet(u2, 5_000);
        const e = await wallet(u2, 0, { currency: "EUR" });
        await transfer(a, b, 1_000, { paymentId: "pay_a1" });
        await transfer(b, a, 2_500);
        await transfer(a, b, 99_999); // insufficient
        await store.ledger.reversePayment("pay_a1", T0 + 10);
        await payout(a, 700, { payoutId: "po_a1", rail: "ach" });
        await payout(b, 300, { payoutId: "po_a2", rail: "paypal" });
        await payout(b, 200, { payoutId: "po_a3", rail: "venmo" });
        await payout(a, 100, { payoutId: "po_a4", rail: "ach" });
        await store.ledger.settlePayout("po_a1", { status: "completed", providerReference: "r1" }, T0 + 20);
        await store.ledger.settlePayout("po_a2", { status: "failed", failureCode: "nope", failureKind: "declined" }, T0 + 20);
        await store.ledger.settlePayout("po_a3", { status: "pending", providerReference: "r3" }, T0 + 20);
        await store.ledger.settlePayout("po_a4", { status: "pending", providerReference: "r4" }, T0 + 20);
        await store.ledger.cancelPayout("po_a4", T0 + 30);
        const audit = await expectBalancedLedger();
        expect(audit.walletBalanceSum).toBe(15_000 - 700 - 200);
        expect(audit.systemAccounts).toEqual({
          [SYSTEM_FUNDING]: -15_000,
          [SYSTEM_PAYOUTS_IN_FLIGHT]: 200,
          [railAccount("ach")]: 700,
        });
        const wallets = [...(await store.ledger.listWallets(u1)), ...(await store.ledger.listWallets(u2))];
        expect(wallets.reduce((s, w) => s + w.balance, 0)).toBe(audit.walletBalanceSum);
        expect(await balance(e.walletId)).toBe(0);
        expect(wallets.every((w) => w.balance >= 0)).toBe(true);
      });
      it("is empty and balanced for an empty store", async () => {
        expect(await store.ledger.audit()).toEqual({ walletBalanceSum: 0, systemAccounts: {}, mismatchedWallets: [], entrySum: 0 });
      });
    });

    describe("meta", () => {
      it("gets, sets, overwrites; claimMeta sets only once", async () => {
        expect(await store.meta.getMeta("k")).toBeNull();
        await store.meta.setMeta("k", "v1");
        await store.meta.setMeta("k", "v2");
        expect(await store.meta.getMeta("k")).toBe("v2");
        expect(await store.meta.claimMeta("seed", "first")).toBe(true);
        expect(await store.meta.claimMeta("seed", "second")).toBe(false);
        expect(await store.meta.getMeta("seed")).toBe("first");
      });
      it("claimMeta has exactly one winner among concurrent callers", async () => {
        const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => store.meta.claimMeta("race", `c${i}`)));
        expect(wins.filter(Boolean)).toHaveLength(1);
      });
    });

    describe("idempotency", () => {
      const idem = () => store.idempotency;
      type Req = { scope: string; key: string; fingerprint: string; owner: string; now: number; leaseMs: number; retentionMs: number };
      const req = (over: Partial<Req> = {}): Req => ({
        scope: "client:1",
        key: "key-1",
        fingerprint: "fp-A",
        owner: `owner-${over.fingerprint ?? "fp-A"}`,
        now: T0,
        leaseMs: 60_000,
        retentionMs: 24 * 3600_000,
        ...over,
      });
      /** The claim a req() with these overrides holds. */
      const ref = (over: Partial<Req> = {}) => {
        const r = req(over);
        return { scope: r.scope, key: r.key, fingerprint: r.fingerprint, owner: r.owner };
      };
      const response = { status: 201, body: '{"ok":true,"note":"ü ✓ \\" \\n"}' };

      it("claims, blocks while in flight, stores the response and replays it", async () => {
        expect(await idem().claim(req())).toEqual({ kind: "claimed" });
        expect(await idem().claim(req({ now: T0 + 1 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 1 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().complete(ref(), response, T0 + 10, 24 * 3600_000)).toBe(true);
        expect(await idem().claim(req({ now: T0 + 20 }))).toEqual({ kind: "completed", fingerprint: "fp-A", response });
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 20 }))).toEqual({ kind: "completed", fingerprint: "fp-A", response });
      });
      it("keeps keys apart by scope, including scopes and keys containing separators", async () => {
        expect(await idem().claim(req({ scope: "a:b", key: "c" }))).toEqual({ kind: "claimed" });
        expect(await idem().claim(req({ scope: "a", key: "b:c" }))).toEqual({ kind: "claimed" });
        expect(await idem().claim(req({ scope: "client:2" }))).toEqual({ kind: "claimed" });
        expect(await idem().claim(req())).toEqual({ kind: "claimed" });
      });
      it("completes only for the fingerprint and owner holding the in-flight claim", async () => {
        await idem().claim(req());
        expect(await idem().complete({ ...ref(), fingerprint: "fp-OTHER" }, response, T0 + 10, 3600_000)).toBe(false);
        expect(await idem().complete({ ...ref(), owner: "someone-else" }, response, T0 + 10, 3600_000)).toBe(false);
        expect(await idem().claim(req({ now: T0 + 20 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().complete(ref(), response, T0 + 30, 3600_000)).toBe(true);
        // A second completion of a completed record changes nothing.
        expect(await idem().complete(ref(), { status: 500, body: "other" }, T0 + 40, 3600_000)).toBe(false);
        expect(await idem().claim(req({ now: T0 + 50 }))).toEqual({ kind: "completed", fingerprint: "fp-A", response });
        // Completing a key nobody claimed stores nothing.
        expect(await idem().complete(ref({ key: "never-claimed" }), response, T0, 3600_000)).toBe(false);
        expect(await idem().claim(req({ key: "never-claimed", now: T0 + 1 }))).toEqual({ kind: "claimed" });
      });
      it("release drops only an in-flight claim with the same fingerprint and owner", async () => {
        await idem().claim(req());
        expect(await idem().release({ ...ref(), fingerprint: "fp-OTHER" })).toBe(false);
        expect(await idem().release({ ...ref(), owner: "someone-else" })).toBe(false);
        expect(await idem().claim(req({ now: T0 + 1 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().release(ref())).toBe(true);
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 2 }))).toEqual({ kind: "claimed" });
        await idem().complete(ref({ fingerprint: "fp-B" }), response, T0 + 3, 3600_000);
        expect(await idem().release(ref({ fingerprint: "fp-B" }))).toBe(false);
        expect(await idem().claim(req({ now: T0 + 4 }))).toEqual({ kind: "completed", fingerprint: "fp-B", response });
      });
      it("a lapsed lease is taken over; the old owner can then neither renew nor complete it", async () => {
        await idem().claim(req({ leaseMs: 1_000 }));
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 999 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 1_000 }))).toEqual({ kind: "claimed" });
        expect(await idem().renew(ref(), T0 + 1_001, 1_000)).toBe(false);
        expect(await idem().complete(ref(), { status: 200, body: "stale owner" }, T0 + 1_001, 3600_000)).toBe(false);
        expect(await idem().claim(req({ now: T0 + 1_002 }))).toEqual({ kind: "in_flight", fingerprint: "fp-B" });
        expect(await idem().complete(ref({ fingerprint: "fp-B" }), response, T0 + 1_003, 3600_000)).toBe(true);
        expect(await idem().claim(req({ now: T0 + 1_004 }))).toEqual({ kind: "completed", fingerprint: "fp-B", response });
      });
      it("the same request under another owner cannot renew or complete a claim it does not hold", async () => {
        await idem().claim(req({ leaseMs: 1_000 }));
        expect(await idem().claim(req({ owner: "owner-2", now: T0 + 1_000 }))).toEqual({ kind: "claimed" });
        expect(await idem().renew(ref(), T0 + 1_001, 1_000)).toBe(false);
        expect(await idem().complete(ref(), response, T0 + 1_001, 3600_000)).toBe(false);
        expect(await idem().renew({ ...ref(), owner: "owner-2" }, T0 + 1_001, 1_000)).toBe(true);
      });
      it("renewing extends the lease from now; a renewed claim blocks the key past its first lease", async () => {
        await idem().claim(req({ leaseMs: 1_000 }));
        expect(await idem().renew(ref(), T0 + 900, 1_000)).toBe(true);
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 1_899 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().renew(ref(), T0 + 1_800, 1_000)).toBe(true);
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 2_799 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        // Not renewed any more: it lapses one lease after the last renewal.
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 2_800 }))).toEqual({ kind: "claimed" });
      });
      it("renew answers false for an absent, completed, or released claim, and changes nothing", async () => {
        expect(await idem().renew(ref(), T0, 1_000)).toBe(false);
        expect(await idem().claim(req({ key: "absent", now: T0 + 1 }))).toEqual({ kind: "claimed" });
        await idem().claim(req());
        await idem().complete(ref(), response, T0 + 1, 3600_000);
        expect(await idem().renew(ref(), T0 + 2, 1_000)).toBe(false);
        expect(await idem().claim(req({ now: T0 + 3 }))).toEqual({ kind: "completed", fingerprint: "fp-A", response });
        await idem().claim(req({ key: "rel" }));
        await idem().release(ref({ key: "rel" }));
        expect(await idem().renew(ref({ key: "rel" }), T0 + 4, 1_000)).toBe(false);
        expect(await idem().claim(req({ key: "rel", fingerprint: "fp-B", now: T0 + 5 }))).toEqual({ kind: "claimed" });
      });
      it("a completed record is replayed until its retention ends, then the key is free", async () => {
        await idem().claim(req());
        await idem().complete(ref(), response, T0 + 100, 60_000);
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 60_099 }))).toEqual({ kind: "completed", fingerprint: "fp-A", response });
        expect(await idem().claim(req({ fingerprint: "fp-B", now: T0 + 60_100 }))).toEqual({ kind: "claimed" });
      });
      it("purgeExpired removes exactly the records past retention", async () => {
        await idem().claim(req({ key: "short", retentionMs: 60_000 }));
        await idem().claim(req({ key: "done", retentionMs: 60_000 }));
        await idem().complete(ref({ key: "done" }), response, T0, 60_000);
        await idem().claim(req({ key: "long", leaseMs: 3600_000, retentionMs: 3600_000 }));
        expect(await idem().purgeExpired(T0 + 59_999)).toBe(0);
        expect(await idem().claim(req({ key: "done", now: T0 + 59_999 }))).toEqual({ kind: "completed", fingerprint: "fp-A", response });
        expect(await idem().purgeExpired(T0 + 60_000)).toBe(2);
        expect(await idem().purgeExpired(T0 + 60_000)).toBe(0);
        expect(await idem().claim(req({ key: "long", now: T0 + 60_001 }))).toEqual({ kind: "in_flight", fingerprint: "fp-A" });
        expect(await idem().claim(req({ key: "done", now: T0 + 60_001 }))).toEqual({ kind: "claimed" });
      });
      it("exactly one of many concurrent claims on a key wins", async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => idem().claim(req({ key: "race", fingerprint: `fp-${i % 3}`, owner: `o-${i}`, now: T0 + i }))),
        );
        const claimed = results.filter((r) => r.kind === "claimed");
        expect(claimed).toHaveLength(1);
        expect(results.filter((r) => r.kind === "in_flight")).toHaveLength(49);
      });
      it("exactly one of many concurrent takeovers of a lapsed lease wins, and only it can complete", async () => {
        await idem().claim(req({ key: "lapsed", leaseMs: 1_000 }));
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, i) => idem().claim(req({ key: "lapsed", owner: `o-${i}`, leaseMs: 1_000, now: T0 + 5_000 }))),
        );
        const winner = results.findIndex((r) => r.kind === "claimed");
        expect(results.filter((r) => r.kind === "claimed")).toHaveLength(1);
        const done = await Promise.all(results.map((_, i) => idem().complete({ ...ref({ key: "lapsed" }), owner: `o-${i}` }, response, T0 + 5_001, 3600_000)));
        expect(done.map((d, i) => (d ? i : -1)).filter((i) => i >= 0)).toEqual([winner]);
      });
    });

    describe("concurrency", () => {
      it("200 concurrent transfers out of one wallet: no overdraft, no lost update, total conserved", async () => {
        const funding = 10_000;
        const src = await wallet(await user(), funding);
        const sinks = await Promise.all(Array.from({ length: 5 }, async () => wallet(await user(), 100)));
        let x = 7;
        const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
        const amounts = Array.from({ length: 200 }, () => 1 + Math.floor(rnd() * 150));
        const outcomes = await Promise.all(amounts.map((amount, i) => transfer(src, sinks[i % 5], amount, { paymentId: `pay_c${i}` })));
        const okAmounts = amounts.filter((_, i) => outcomes[i].ok);
        const okSum = okAmounts.reduce((s, v) => s + v, 0);
        expect(outcomes.every((o) => o.ok || o.reason === "insufficient_funds")).toBe(true);
        expect(okAmounts.length).toBeGreaterThan(0);
        expect(okAmounts.length).toBeLessThan(200);
        const srcBalance = await balance(src.walletId);
        expect(srcBalance).toBe(funding - okSum);
        expect(srcBalance).toBeGreaterThanOrEqual(0);
        // Every failure really lacked funds at that point: the smallest failed amount exceeds what is left.
        const failedAmounts = amounts.filter((_, i) => !outcomes[i].ok);
        expect(Math.min(...failedAmounts)).toBeGreaterThan(srcBalance);
        let sinkSum = 0;
        for (let s = 0; s < 5; s++) {
          const expected = 100 + amounts.filter((a, i) => i % 5 === s && outcomes[i].ok).reduce((t, v) => t + v, 0);
          const b = await balance(sinks[s].walletId);
          expect(b).toBe(expected);
          sinkSum += b;
        }
        expect(srcBalance + sinkSum).toBe(funding + 500);
        for (let i = 0; i < 200; i++) expect((await store.ledger.getPayment(`pay_c${i}`)) !== null).toBe(outcomes[i].ok);
        const audit = await expectBalancedLedger();
        expect(audit.walletBalanceSum).toBe(funding + 500);
      });
      it("concurrent transfers in both directions between wallets keep every balance consistent", async () => {
        const ws = await Promise.all(Array.from({ length: 4 }, async () => wallet(await user(), 1_000)));
        const ops = Array.from({ length: 200 }, (_, i) => transfer(ws[i % 4], ws[(i * 3 + 1) % 4], 10 + (i % 90)));
        await Promise.all(ops);
        const balances = await Promise.all(ws.map((w) => balance(w.walletId)));
        expect(balances.every((b) => b >= 0)).toBe(true);
        expect(balances.reduce((s, b) => s + b, 0)).toBe(4_000);
        await expectBalancedLedger();
      });
      it("a payment reversed concurrently many times is reversed exactly once", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        await transfer(a, b, 600, { paymentId: "pay_rr" });
        const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.ledger.reversePayment("pay_rr", T0 + i)));
        expect(rs.filter((r) => r.ok)).toHaveLength(1);
        expect(rs.filter((r) => !r.ok && r.reason === "payment_not_reversible")).toHaveLength(19);
        expect(await balance(a.walletId)).toBe(1_000);
        expect(await balance(b.walletId)).toBe(0);
        await expectBalancedLedger();
      });
      it("a pending payout cancelled and settled concurrently ends exactly one way", async () => {
        const w = await wallet(await user(), 1_000);
        await payout(w, 500, { payoutId: "po_race" });
        await store.ledger.settlePayout("po_race", { status: "pending", providerReference: "r" }, T0 + 1);
        const [cancel, settle, cancel2] = await Promise.all([
          store.ledger.cancelPayout("po_race", T0 + 2),
          store.ledger.settlePayout("po_race", { status: "completed", providerReference: "r2" }, T0 + 2),
          store.ledger.cancelPayout("po_race", T0 + 2),
        ]);
        const final = (await store.ledger.getPayout("po_race"))!;
        expect(["cancelled", "completed"]).toContain(final.status);
        expect([cancel, cancel2].filter((c) => c.ok)).toHaveLength(final.status === "cancelled" ? 1 : 0);
        expect(settle!.status).toBe(final.status === "completed" ? "completed" : "cancelled");
        expect(await balance(w.walletId)).toBe(final.status === "cancelled" ? 1_000 : 500);
        await expectBalancedLedger();
      });
    });

    defineBatchStoreContract(() => store);
  });
}
