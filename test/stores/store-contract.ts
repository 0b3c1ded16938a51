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
import { tokenIdOf } from "../../src/core/records.js";
import { treasuryHolderId } from "../../src/ports/treasury.js";
import { UnknownCursorError } from "../../src/ports/paging.js";
import type { WebhookAttemptRecord, WebhookEndpointRecord, WebhookMessageRecord } from "../../src/ports/webhooks.js";
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
        expect(await store.clients.findClient(100001)).toEqual({ ...c, status: "active" });
        expect(await store.clients.findClient(100002)).toBeNull();
      });
      it("rejects a duplicate client id and keeps the first", async () => {
        const c = { clientId: 7, name: "First", secretHash: "aa", createdAt: T0 };
        await store.clients.createClient(c);
        await expect(store.clients.createClient({ ...c, name: "Second", secretHash: "bb" })).rejects.toThrow();
        expect(await store.clients.findClient(7)).toEqual({ ...c, status: "active" });
      });
    });

    describe("tokens", () => {
      it("round-trips tokens (scopes, expiry or none, revoked) by hash", async () => {
        const u = await user();
        const t1: TokenRecord = { tokenHash: "1".repeat(64), userId: u, scopes: ["payments:read", "payments:write"], expiresAt: null, revoked: false, createdAt: T0 };
        const t2: TokenRecord = { tokenHash: "2".repeat(64), userId: u, scopes: [], expiresAt: T0 + 3600_000, revoked: true, createdAt: T0 + 1 };
        await store.tokens.createToken(t1);
        await store.tokens.createToken(t2);
        expect(await store.tokens.findToken(t1.tokenHash)).toEqual({ ...t1, tokenId: tokenIdOf(t1.tokenHash), revokedAt: null });
        expect(await store.tokens.findToken(t2.tokenHash)).toEqual({ ...t2, tokenId: tokenIdOf(t2.tokenHash), revokedAt: null });
        expect(await store.tokens.findToken("3".repeat(64))).toBeNull();
      });
      it("rejects a duplicate token hash and keeps the first", async () => {
        const u = await user();
        const t: TokenRecord = { tokenHash: "f".repeat(64), userId: u, scopes: ["a"], expiresAt: null, revoked: false, createdAt: T0 };
        await store.tokens.createToken(t);
        await expect(store.tokens.createToken({ ...t, scopes: ["a", "b"], revoked: true })).rejects.toThrow();
        expect(await store.tokens.findToken(t.tokenHash)).toEqual({ ...t, tokenId: tokenIdOf(t.tokenHash), revokedAt: null });
      });
      it("rejects a token for an unknown user", async () => {
        await expect(
          store.tokens.createToken({ tokenHash: "e".repeat(64), userId: "usr_nobody", scopes: [], expiresAt: null, revoked: false, createdAt: T0 }),
        ).rejects.toThrow();
        expect(await store.tokens.findToken("e".repeat(64))).toBeNull();
      });
      it("revokes and re-expires a token, bumping the credentials version with each change (and only then)", async () => {
        const u = await user();
        const t: TokenRecord = { tokenHash: "4".repeat(64), userId: u, scopes: ["wallets:read"], expiresAt: null, revoked: false, createdAt: T0 };
        const v0 = await store.tokens.credentialsVersion();
        await store.tokens.createToken(t);
        const v1 = await store.tokens.credentialsVersion();
        expect(v1).not.toBeNull();
        if (store.tokens.credentialsVersionSync) expect(store.tokens.credentialsVersionSync()).toBe(v1);
        expect(v1).not.toBe(v0);
        // Reading changes nothing.
        await store.tokens.findToken(t.tokenHash);
        expect(await store.tokens.credentialsVersion()).toBe(v1);

        expect(await store.tokens.expireToken(t.tokenHash, T0 + 5000)).toBe(true);
        expect(await store.tokens.findToken(t.tokenHash)).toMatchObject({ ...t, expiresAt: T0 + 5000 });
        const v2 = await store.tokens.credentialsVersion();
        expect(v2).not.toBe(v1);

        expect(await store.tokens.revokeToken(t.tokenHash, T0 + 6000)).toBe(true);
        expect(await store.tokens.findToken(t.tokenHash)).toMatchObject({ ...t, expiresAt: T0 + 5000, revoked: true, revokedAt: T0 + 6000 });
        const v3 = await store.tokens.credentialsVersion();
        expect([v0, v1, v2]).not.toContain(v3);
        // A store that also reads the version synchronously gives the same value.
        if (store.tokens.credentialsVersionSync) expect(store.tokens.credentialsVersionSync()).toBe(v3);

        // An unknown token: false, nothing changes, the version stays.
        expect(await store.tokens.revokeToken("5".repeat(64), T0)).toBe(false);
        expect(await store.tokens.expireToken("5".repeat(64), T0)).toBe(false);
        expect(await store.tokens.findToken("5".repeat(64))).toBeNull();
        expect(await store.tokens.credentialsVersion()).toBe(v3);
        // A failed create (duplicate) does not bump it either.
        await expect(store.tokens.createToken(t)).rejects.toThrow();
        expect(await store.tokens.credentialsVersion()).toBe(v3);
      });
      it("concurrent changes to tokens each bump the version once and none is lost", async () => {
        const u = await user();
        const hashes = ["6", "7", "8", "9"].map((c) => c.repeat(64));
        for (const h of hashes) await store.tokens.createToken({ tokenHash: h, userId: u, scopes: [], expiresAt: null, revoked: false, createdAt: T0 });
        const before = await store.tokens.credentialsVersion();
        const [epoch, n] = before!.split(":");
        await Promise.all(hashes.flatMap((h, i) => [store.tokens.revokeToken(h, T0), store.tokens.expireToken(h, T0 + i)]));
        for (const [i, h] of hashes.entries()) expect(await store.tokens.findToken(h)).toMatchObject({ revoked: true, expiresAt: T0 + i });
        expect(await store.tokens.credentialsVersion()).toBe(`${epoch}:${Number(n) + 8}`);
      });
      it("runs a read snapshot's function and returns its value", async () => {
        const u = await user();
        const w = await wallet(u, 500);
        const got = store.readSnapshot(() => store.ledger.getWallet(w.walletId));
        expect(await got).toMatchObject({ walletId: w.walletId, balance: 500 });
        expect(store.readSnapshot(() => 42)).toBe(42);
        expect(() => store.readSnapshot(() => { throw new Error("inside"); })).toThrow("inside");
        // The store is still usable (no transaction left open).
        expect(await balance(w.walletId)).toBe(500);
        await expect(store.ledger.transfer({ paymentId: "pay_snap", userId: u, fromWalletId: w.walletId, toWalletId: (await wallet(u, 0)).walletId, amount: 1, currency: "USD", description: null, now: T0 })).resolves.toMatchObject({ ok: true });
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
        expect(w).toEqual({ walletId: "wal_x", userId: u, currency: "USD", balance: 12_345, status: "active", createdAt: T0 + 5 });
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
        expect(list[0]).toEqual({ walletId: "wal_B", userId: u, currency: "USD", balance: 5, status: "active", createdAt: T0 + 1 });
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
    describe("treasury", () => {
      const ach = { routing_number: "110000000", account_number: "000123456789" };
      it("opens a client's treasury wallet once per currency: opening again returns the same wallet and writes nothing", async () => {
        const first = await store.treasury.openTreasuryWallet(100001, "wal_t1", "USD", T0);
        expect(first.opened).toBe(true);
        expect(first.wallet).toEqual({ walletId: "wal_t1", userId: treasuryHolderId(100001), currency: "USD", balance: 0, status: "active", createdAt: T0 });
        const again = await store.treasury.openTreasuryWallet(100001, "wal_t2", "USD", T0 + 5);
        expect(again).toEqual({ wallet: first.wallet, opened: false });
        expect(await store.ledger.getWallet("wal_t2")).toBeNull();
        // The holder exists as a user (the wallets' owner), with the agreed identity.
        expect(await store.ledger.getUser("cli_100001")).toEqual({
          userId: "cli_100001",
          email: "treasury+100001@clients.batchgate.invalid",
          firstName: "Client 100001",
          lastName: "Treasury",
          createdAt: T0,
        });
        const eur = await store.treasury.openTreasuryWallet(100001, "wal_t3", "EUR", T0 + 10);
        expect(eur.opened).toBe(true);
        expect(await store.treasury.listTreasuryWallets(100001)).toEqual([first.wallet, eur.wallet]);
        expect(await store.treasury.treasuryWallet(100001, "USD")).toEqual(first.wallet);
        expect(await store.treasury.treasuryWallet(100001, "GBP")).toBeNull();
        // Another client's treasury is its own.
        expect(await store.treasury.listTreasuryWallets(100002)).toEqual([]);
        expect(await store.treasury.treasuryWallet(100002, "USD")).toBeNull();
        const other = await store.treasury.openTreasuryWallet(100002, "wal_t4", "USD", T0);
        expect(other.wallet.userId).toBe("cli_100002");
        expect((await store.treasury.listTreasuryWallets(100001)).map((w) => w.walletId)).toEqual(["wal_t1", "wal_t3"]);
      });
      it("concurrent opens for one client and currency end with one treasury wallet", async () => {
        const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.treasury.openTreasuryWallet(100003, `wal_c${i}`, "USD", T0 + i)));
        expect(outs.filter((o) => o.opened)).toHaveLength(1);
        expect(new Set(outs.map((o) => o.wallet.walletId)).size).toBe(1);
        expect(await store.treasury.listTreasuryWallets(100003)).toHaveLength(1);
        expect(await store.ledger.listWallets("cli_100003")).toHaveLength(1);
      });
      it("funds a treasury wallet through fundWallet, once per funding id, and the ledger still balances", async () => {
        const { wallet: t } = await store.treasury.openTreasuryWallet(100001, "wal_tf", "USD", T0);
        const fund = () => store.ledger.fundWallet({ fundingId: "seed_treasury_100001_USD", walletId: t.walletId, amount: 100_000_000, currency: "USD", reason: "seed", createdAt: T0 + 1 });
        const a = await fund();
        const b = await fund();
        expect(a.ok && !a.replayed && a.wallet.balance).toBe(100_000_000);
        expect(b.ok && b.replayed).toBe(true);
        expect((await store.treasury.treasuryWallet(100001, "USD"))!.balance).toBe(100_000_000);
        // Money leaves the treasury like any wallet's.
        const u = await user();
        const r = await store.treasury.ensureUserWallet(u, "USD", "wal_rcpt", T0 + 2);
        const paid = await transfer(t, r!.wallet, 2_500, { paymentId: "pay_tr1" });
        expect(paid.ok).toBe(true);
        expect((await store.treasury.treasuryWallet(100001, "USD"))!.balance).toBe(100_000_000 - 2_500);
        expect(await balance("wal_rcpt")).toBe(2_500);
        const page = await store.ledger.listWalletEntries(t.walletId, { limit: 10 });
        expect(page.data.map((e) => [e.amount, e.kind, e.refId])).toEqual([
          [-2_500, "payment", "pay_tr1"],
          [100_000_000, "funding", "seed_treasury_100001_USD"],
        ]);
        const audit = await expectBalancedLedger();
        expect(audit.walletBalanceSum).toBe(100_000_000);
        expect(audit.systemAccounts[SYSTEM_FUNDING]).toBe(-100_000_000);
      });
      it("ensureUserWallet returns the user's oldest wallet in the currency, or opens one", async () => {
        const u = await user();
        await wallet(u, 0, { walletId: "wal_eur", currency: "EUR", createdAt: T0 });
        const opened = await store.treasury.ensureUserWallet(u, "USD", "wal_auto", T0 + 10);
        expect(opened).toEqual({ wallet: { walletId: "wal_auto", userId: u, currency: "USD", balance: 0, status: "active", createdAt: T0 + 10 }, opened: true });
        expect(await store.treasury.ensureUserWallet(u, "USD", "wal_other", T0 + 20)).toEqual({ wallet: opened!.wallet, opened: false });
        expect(await store.ledger.getWallet("wal_other")).toBeNull();
        // With several wallets in the currency, the oldest.
        const v = await user();
        await wallet(v, 700, { walletId: "wal_new", createdAt: T0 + 50 });
        await wallet(v, 300, { walletId: "wal_old", createdAt: T0 + 5 });
        expect((await store.treasury.ensureUserWallet(v, "USD", "wal_x", T0 + 60))!).toMatchObject({ wallet: { walletId: "wal_old", balance: 300 }, opened: false });
        expect((await store.treasury.ensureUserWallet(u, "EUR", "wal_y", T0))!).toMatchObject({ wallet: { walletId: "wal_eur" }, opened: false });
        expect(await store.ledger.listWallets(u)).toHaveLength(2);
        await expectBalancedLedger();
      });
      it("20 concurrent ensureUserWallet calls for one user and currency end with one wallet", async () => {
        const u = await user();
        const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.treasury.ensureUserWallet(u, "USD", `wal_e${i}`, T0 + i)));
        expect(outs.filter((o) => o!.opened)).toHaveLength(1);
        expect(new Set(outs.map((o) => o!.wallet.walletId)).size).toBe(1);
        expect(await store.ledger.listWallets(u)).toHaveLength(1);
        // The same for the deterministic id every caller would pass (what payout items do).
        const v = await user();
        const same = await Promise.all(Array.from({ length: 20 }, () => store.treasury.ensureUserWallet(v, "USD", "wal_det", T0)));
        expect(same.filter((o) => o!.opened)).toHaveLength(1);
        expect(same.every((o) => o!.wallet.walletId === "wal_det")).toBe(true);
        expect(await store.ledger.listWallets(v)).toHaveLength(1);
        await expectBalancedLedger();
      });
      it("ensureUserWallet: an unknown user or a treasury holder gets null and nothing is written", async () => {
        expect(await store.treasury.ensureUserWallet("usr_nobody", "USD", "wal_n1", T0)).toBeNull();
        expect(await store.ledger.getWallet("wal_n1")).toBeNull();
        expect(await store.ledger.getUser("usr_nobody")).toBeNull();
        await store.treasury.openTreasuryWallet(100001, "wal_th", "USD", T0);
        expect(await store.treasury.ensureUserWallet("cli_100001", "USD", "wal_n2", T0)).toBeNull();
        expect(await store.treasury.ensureUserWallet("cli_100001", "EUR", "wal_n3", T0)).toBeNull();
        expect(await store.treasury.ensureUserWallet("cli_999", "USD", "wal_n4", T0)).toBeNull();
        for (const id of ["wal_n2", "wal_n3", "wal_n4"]) expect(await store.ledger.getWallet(id)).toBeNull();
        expect(await store.ledger.listWallets("cli_100001")).toHaveLength(1);
      });
      it("sets, replaces and lists a user's default destinations per rail", async () => {
        const u = await user();
        expect(await store.treasury.defaultDestination(u, "ach")).toBeNull();
        expect(await store.treasury.listDefaultDestinations(u)).toEqual([]);
        expect(await store.treasury.setDefaultDestination(u, "ach", ach, T0)).toBe(true);
        expect(await store.treasury.setDefaultDestination(u, "paypal", { email: "zoë@example.com" }, T0 + 1)).toBe(true);
        expect(await store.treasury.defaultDestination(u, "ach")).toEqual({ rail: "ach", destination: ach, updatedAt: T0 });
        const replaced = { routing_number: "021000021", account_number: "9876" };
        expect(await store.treasury.setDefaultDestination(u, "ach", replaced, T0 + 2)).toBe(true);
        expect(await store.treasury.defaultDestination(u, "ach")).toEqual({ rail: "ach", destination: replaced, updatedAt: T0 + 2 });
        expect(await store.treasury.listDefaultDestinations(u)).toEqual([
          { rail: "ach", destination: replaced, updatedAt: T0 + 2 },
          { rail: "paypal", destination: { email: "zoë@example.com" }, updatedAt: T0 + 1 },
        ]);
        // Another user's are their own.
        const v = await user();
        expect(await store.treasury.listDefaultDestinations(v)).toEqual([]);
        expect(await store.treasury.defaultDestination(v, "ach")).toBeNull();
      });
      it("setDefaultDestination for an unknown user is false and writes nothing", async () => {
        expect(await store.treasury.setDefaultDestination("usr_ghost", "ach", ach, T0)).toBe(false);
        expect(await store.treasury.defaultDestination("usr_ghost", "ach")).toBeNull();
        expect(await store.treasury.listDefaultDestinations("usr_ghost")).toEqual([]);
        expect(await store.ledger.getUser("usr_ghost")).toBeNull();
      });
    });
    describe("admin operations", () => {
      const token = (userId: string, hash: string, createdAt: number, tokenId?: string): TokenRecord => ({
        tokenHash: hash.repeat(64).slice(0, 64),
        tokenId,
        userId,
        scopes: ["user:read"],
        expiresAt: null,
        revoked: false,
        createdAt,
      });

      it("allocates client ids from 100001, skipping ids taken explicitly, and disables and rotates", async () => {
        const a = await store.clients.createNextClient({ name: "A", secretHash: "h1", createdAt: T0 });
        await store.clients.createClient({ clientId: 100002, name: "Explicit", secretHash: "aa", createdAt: T0 });
        const b = await store.clients.createNextClient({ name: "B", secretHash: "h2", createdAt: T0 });
        expect(a).toEqual({ clientId: 100001, name: "A", secretHash: "h1", status: "active", createdAt: T0 });
        expect(b.clientId).toBe(100003);
        expect(await store.clients.findClient(100003)).toEqual(b);
        expect(await store.clients.setClientStatus(100001, "disabled")).toEqual({ ...a, status: "disabled" });
        expect((await store.clients.findClient(100001))!.status).toBe("disabled");
        expect(await store.clients.setClientStatus(999, "disabled")).toBeNull();
        expect(await store.clients.rotateClientSecret(100003, "h3")).toEqual({ ...b, secretHash: "h3" });
        expect((await store.clients.findClient(100003))!.secretHash).toBe("h3");
        expect(await store.clients.rotateClientSecret(999, "h4")).toBeNull();
      });

      it("revokes a token once, by hash, keeping when; finds tokens by id; lists a user's newest first with a cursor", async () => {
        const u = await user();
        const other = await user();
        await store.tokens.createToken(token(u, "a", T0, "tok_A"));
        await store.tokens.createToken(token(u, "b", T0 + 2, "tok_B"));
        await store.tokens.createToken(token(u, "c", T0 + 1, "tok_C"));
        await store.tokens.createToken(token(other, "d", T0 + 3, "tok_D"));
        expect(await store.tokens.revokeToken("b".repeat(64), T0 + 10)).toBe(true);
        expect(await store.tokens.revokeToken("b".repeat(64), T0 + 20)).toBe(false);
        expect(await store.tokens.revokeToken("9".repeat(64), T0 + 20)).toBe(false);
        const revoked = await store.tokens.findToken("b".repeat(64));
        expect(revoked).toMatchObject({ tokenId: "tok_B", revoked: true, revokedAt: T0 + 10 });
        expect(await store.tokens.findTokenById("tok_B")).toEqual(revoked);
        expect(await store.tokens.findTokenById("tok_missing")).toBeNull();
        const first = await store.tokens.listUserTokens(u, { limit: 2 });
        expect(first.data.map((t) => t.tokenId)).toEqual(["tok_B", "tok_C"]);
        expect(first.hasMore).toBe(true);
        const second = await store.tokens.listUserTokens(u, { limit: 2, startingAfter: "tok_C" });
        expect(second.data.map((t) => t.tokenId)).toEqual(["tok_A"]);
        expect(second.hasMore).toBe(false);
        await expect(store.tokens.listUserTokens(u, { limit: 2, startingAfter: "tok_D" })).rejects.toThrow(UnknownCursorError);
      });

      it("funds a wallet from system:funding exactly once per funding id", async () => {
        const w = await wallet(await user(), 100);
        const req = { fundingId: "fnd_1", walletId: w.walletId, amount: 2_500, currency: "USD", reason: "launch", createdAt: T0 + 7 };
        const first = await store.ledger.fundWallet(req);
        expect(first).toEqual({ ok: true, replayed: false, funding: req, wallet: { ...w, balance: 2_600 } });
        const again = await store.ledger.fundWallet({ ...req, amount: 9_999, reason: "other" });
        expect(again).toEqual({ ok: true, replayed: true, funding: req, wallet: { ...w, balance: 2_600 } });
        expect(await balance(w.walletId)).toBe(2_600);
        expect(await store.ledger.fundWallet({ ...req, fundingId: "fnd_2", walletId: "wal_missing" })).toEqual({ ok: false, reason: "not_found" });
        expect(await store.ledger.fundWallet({ ...req, fundingId: "fnd_3", currency: "EUR" })).toEqual({ ok: false, reason: "currency_mismatch" });
        const a = await expectBalancedLedger();
        expect(a.systemAccounts[SYSTEM_FUNDING]).toBe(-2_600);
      });

      it("a frozen wallet neither sends nor receives (payment, reversal, payout, funding) until unfrozen", async () => {
        const a = await wallet(await user(), 10_000);
        const b = await wallet(await user(), 10_000);
        const paid = await transfer(a, b, 1_000, { paymentId: "pay_before" });
        expect(paid.ok).toBe(true);
        expect(await store.ledger.setWalletStatus(b.walletId, "frozen")).toEqual({ ...b, balance: 11_000, status: "frozen" });
        expect((await store.ledger.getWallet(b.walletId))!.status).toBe("frozen");
        expect((await store.ledger.listWallets(b.userId))[0].status).toBe("frozen");
        expect(await transfer(a, b, 100)).toEqual({ ok: false, reason: "wallet_frozen" });
        expect(await transfer(b, a, 100)).toEqual({ ok: false, reason: "wallet_frozen" });
        expect(await store.ledger.reversePayment("pay_before", T0 + 5)).toEqual({ ok: false, reason: "wallet_frozen" });
        expect(await payout(b, 100)).toEqual({ ok: false, reason: "wallet_frozen" });
        expect(
          await store.ledger.fundWallet({ fundingId: "fnd_frozen", walletId: b.walletId, amount: 5, currency: "USD", reason: "x", createdAt: T0 }),
        ).toEqual({ ok: false, reason: "wallet_frozen" });
        expect(await balance(a.walletId)).toBe(9_000);
        expect(await balance(b.walletId)).toBe(11_000);
        expect((await store.ledger.getPayment("pay_before"))!.status).toBe("completed");
        expect(await store.ledger.setWalletStatus("wal_missing", "frozen")).toBeNull();
        expect((await store.ledger.setWalletStatus(b.walletId, "active"))!.status).toBe("active");
        expect((await store.ledger.reversePayment("pay_before", T0 + 6)).ok).toBe(true);
        expect(await balance(b.walletId)).toBe(10_000);
        await expectBalancedLedger();
      });

      it("lists a wallet's ledger entries newest first, with a cursor", async () => {
        const a = await wallet(await user(), 1_000);
        const b = await wallet(await user(), 0);
        await transfer(a, b, 10, { paymentId: "pay_e1" });
        await transfer(b, a, 3, { paymentId: "pay_e2" });
        await store.ledger.fundWallet({ fundingId: "fnd_e", walletId: a.walletId, amount: 50, currency: "USD", reason: "r", createdAt: T0 + 9 });
        const all = await store.ledger.listWalletEntries(a.walletId, { limit: 10 });
        expect(all.data.map((e) => [e.amount, e.kind, e.refId])).toEqual([
          [50, "funding", "fnd_e"],
          [3, "payment", "pay_e2"],
          [-10, "payment", "pay_e1"],
          [1_000, "funding", a.walletId],
        ]);
        expect(all.data.every((e) => e.account === a.walletId && /^ent_\d+$/.test(e.entryId))).toBe(true);
        expect(all.hasMore).toBe(false);
        const p1 = await store.ledger.listWalletEntries(a.walletId, { limit: 3 });
        expect(p1.hasMore).toBe(true);
        const p2 = await store.ledger.listWalletEntries(a.walletId, { limit: 3, startingAfter: p1.data[2].entryId });
        expect(p2.data.map((e) => e.refId)).toEqual([a.walletId]);
        expect(p2.hasMore).toBe(false);
        await expect(store.ledger.listWalletEntries(b.walletId, { limit: 3, startingAfter: p1.data[0].entryId })).rejects.toThrow(UnknownCursorError);
        expect((await store.ledger.listWalletEntries("wal_none", { limit: 3 })).data).toEqual([]);
      });

      it("keeps an append-only audit log, listed newest first with a cursor", async () => {
        const rec = (n: number) => ({
          auditId: `aud_${n}`,
          actor: "admin",
          action: "wallet.fund",
          target: `wal_${n}`,
          requestId: `req_${n}`,
          details: { amount: "1.00", n },
          createdAt: T0 + n,
        });
        for (const n of [1, 2, 3]) await store.audit.append(rec(n));
        const p1 = await store.audit.list({ limit: 2 });
        expect(p1).toEqual({ data: [rec(3), rec(2)], hasMore: true });
        expect(await store.audit.list({ limit: 2, startingAfter: "aud_2" })).toEqual({ data: [rec(1)], hasMore: false });
        expect(await store.audit.list({ limit: 2, startingAfter: "aud_1" })).toEqual({ data: [], hasMore: false });
        await expect(store.audit.list({ limit: 2, startingAfter: "aud_9" })).rejects.toThrow(UnknownCursorError);
      });
    });

    describe("webhooks", () => {
      const endpointRec = (over: Partial<WebhookEndpointRecord> = {}): WebhookEndpointRecord => ({
        endpointId: `whe_${++seq}`,
        clientId: 100001,
        url: "https://hooks.example.com/in",
        eventTypes: null,
        itemEvents: true,
        description: null,
        status: "enabled",
        disabledReason: null,
        secretCipher: "v1.iv.ct",
        previousSecretCipher: null,
        previousSecretExpiresAt: null,
        createdAt: T0 + seq,
        updatedAt: T0 + seq,
        ...over,
      });
      const messageRec = (endpointId: string, eventId: string, over: Partial<WebhookMessageRecord> = {}): WebhookMessageRecord => ({
        messageId: `whd_${++seq}`,
        endpointId,
        clientId: 100001,
        eventId,
        eventType: "batch.completed",
        body: '{"type":"batch.completed","data":{"n":"ü"}}',
        status: "pending",
        attempts: 0,
        scheduleBase: 0,
        dueAt: T0,
        leaseOwner: null,
        createdAt: T0,
        updatedAt: T0,
        ...over,
      });
      const attemptOf = (m: WebhookMessageRecord, over: Partial<WebhookAttemptRecord> = {}): WebhookAttemptRecord => ({
        attemptId: `wha_${++seq}`,
        messageId: m.messageId,
        endpointId: m.endpointId,
        eventId: m.eventId,
        eventType: m.eventType,
        attempt: m.attempts + 1,
        manual: false,
        startedAt: T0 + 10,
        durationMs: 12,
        statusCode: 500,
        error: "HTTP 500",
        outcome: "retrying",
        nextAttemptAt: T0 + 5000,
        ...over,
      });

      it("round-trips endpoints, lists a client's oldest first, rotates secrets and deletes", async () => {
        const a = endpointRec({ eventTypes: ["batch.completed", "batch.item.failed"], itemEvents: false, description: "ops" });
        const b = endpointRec();
        const other = endpointRec({ clientId: 100002 });
        for (const e of [b, a, other]) await store.webhooks.createEndpoint(e);
        expect(await store.webhooks.getEndpoint(a.endpointId)).toEqual(a);
        expect(await store.webhooks.getEndpoint("whe_none")).toBeNull();
        expect((await store.webhooks.listEndpoints(100001)).map((e) => e.endpointId)).toEqual([a.endpointId, b.endpointId]);
        expect(await store.webhooks.setSecrets(a.endpointId, { secretCipher: "v1.new", previousSecretCipher: "v1.iv.ct", previousSecretExpiresAt: T0 + 99 }, T0 + 50)).toBe(true);
        expect(await store.webhooks.getEndpoint(a.endpointId)).toEqual({ ...a, secretCipher: "v1.new", previousSecretCipher: "v1.iv.ct", previousSecretExpiresAt: T0 + 99, updatedAt: T0 + 50 });
        expect(await store.webhooks.setSecrets(a.endpointId, { secretCipher: "v1.newer", previousSecretCipher: null, previousSecretExpiresAt: null }, T0 + 60)).toBe(true);
        expect(await store.webhooks.getEndpoint(a.endpointId)).toMatchObject({ secretCipher: "v1.newer", previousSecretCipher: null, previousSecretExpiresAt: null });
        expect(await store.webhooks.setSecrets("whe_none", { secretCipher: "x", previousSecretCipher: null, previousSecretExpiresAt: null }, T0)).toBe(false);
        expect(await store.webhooks.deleteEndpoint(a.endpointId)).toBe(true);
        expect(await store.webhooks.deleteEndpoint(a.endpointId)).toBe(false);
        expect(await store.webhooks.getEndpoint(a.endpointId)).toBeNull();
        expect((await store.webhooks.listEndpoints(100001)).map((e) => e.endpointId)).toEqual([b.endpointId]);
      });

      it("enqueues once per (endpoint, event) and claims due messages under an exclusive lease", async () => {
        const e1 = endpointRec();
        const e2 = endpointRec();
        const m1 = messageRec(e1.endpointId, "evt_1");
        const m2 = messageRec(e2.endpointId, "evt_1", { dueAt: T0 + 700 });
        expect(await store.webhooks.enqueue([m1, m2])).toBe(2);
        expect(await store.webhooks.enqueue([messageRec(e1.endpointId, "evt_1")])).toBe(0);
        expect(await store.webhooks.getMessage(m1.messageId)).toEqual(m1);
        expect(await store.webhooks.nextDueAt()).toBe(T0);
        const first = await store.webhooks.claimDue(T0, 10, 500, "owner-a");
        expect(first.map((m) => m.messageId)).toEqual([m1.messageId]);
        expect(first[0]).toMatchObject({ status: "delivering", dueAt: T0 + 500, leaseOwner: "owner-a", body: m1.body });
        // While the lease runs nobody else gets it; m2 is not due yet.
        expect(await store.webhooks.claimDue(T0 + 499, 10, 500, "owner-b")).toEqual([]);
        expect(await store.webhooks.nextDueAt()).toBe(T0 + 500);
        // A lapsed lease is claimed again, and the old holder can no longer record.
        const again = await store.webhooks.claimDue(T0 + 500, 10, 500, "owner-b");
        expect(again.map((m) => m.messageId)).toEqual([m1.messageId]);
        const late = await store.webhooks.recordAttempt(m1.messageId, "owner-a", { attempt: attemptOf(m1), status: "delivered", dueAt: null }, T0 + 600);
        expect(late).toBe(false);
        expect((await store.webhooks.listAttempts(e1.endpointId, { limit: 10 }))!.attempts).toEqual([]);
        const later = await store.webhooks.claimDue(T0 + 800, 10, 500, "owner-c");
        expect(later.map((m) => m.messageId)).toEqual([m2.messageId]);
      });

      it("records attempts (pending again, delivered, failed), disables on request, pages attempts newest first", async () => {
        const e = endpointRec();
        await store.webhooks.createEndpoint(e);
        const m = messageRec(e.endpointId, "evt_9");
        await store.webhooks.enqueue([m]);
        const [c1] = await store.webhooks.claimDue(T0, 1, 1000, "o1");
        const a1 = attemptOf(c1);
        expect(await store.webhooks.recordAttempt(m.messageId, "o1", { attempt: a1, status: "pending", dueAt: T0 + 5000 }, T0 + 20)).toBe(true);
        expect(await store.webhooks.getMessage(m.messageId)).toMatchObject({ status: "pending", attempts: 1, dueAt: T0 + 5000, leaseOwner: null });
        expect(await store.webhooks.claimDue(T0 + 4999, 1, 1000, "o2")).toEqual([]);
        const [c2] = await store.webhooks.claimDue(T0 + 5000, 1, 1000, "o2");
        expect(c2.attempts).toBe(1);
        const a2 = attemptOf(c2, { statusCode: 410, error: "gone", outcome: "endpoint_disabled", nextAttemptAt: null });
        expect(await store.webhooks.recordAttempt(m.messageId, "o2", { attempt: a2, status: "failed", dueAt: null, disableEndpoint: { reason: "410" } }, T0 + 5100)).toBe(true);
        expect(await store.webhooks.getMessage(m.messageId)).toMatchObject({ status: "failed", attempts: 2, dueAt: null });
        expect(await store.webhooks.getEndpoint(e.endpointId)).toMatchObject({ status: "disabled", disabledReason: "410", updatedAt: T0 + 5100 });
        expect(await store.webhooks.nextDueAt()).toBeNull();
        // Resend: pending and due now, with a fresh schedule; then a third attempt delivers.
        expect(await store.webhooks.resend(m.messageId, T0 + 6000)).toBe(true);
        expect(await store.webhooks.getMessage(m.messageId)).toMatchObject({ status: "pending", dueAt: T0 + 6000, scheduleBase: 2 });
        const [c3] = await store.webhooks.claimDue(T0 + 6000, 1, 1000, "o3");
        expect(await store.webhooks.resend(m.messageId, T0 + 6001)).toBe(false);
        const a3 = attemptOf(c3, { manual: true, statusCode: 200, error: null, outcome: "delivered", nextAttemptAt: null });
        expect(await store.webhooks.recordAttempt(m.messageId, "o3", { attempt: a3, status: "delivered", dueAt: null }, T0 + 6100)).toBe(true);
        expect(await store.webhooks.resend("whd_none", T0)).toBe(false);

        const all = await store.webhooks.listAttempts(e.endpointId, { limit: 10 });
        expect(all).toEqual({ attempts: [a3, a2, a1], hasMore: false });
        const p1 = await store.webhooks.listAttempts(e.endpointId, { limit: 2 });
        expect(p1).toEqual({ attempts: [a3, a2], hasMore: true });
        expect(await store.webhooks.listAttempts(e.endpointId, { limit: 2, startingAfter: a2.attemptId })).toEqual({ attempts: [a1], hasMore: false });
        expect(await store.webhooks.listAttempts(e.endpointId, { limit: 2, startingAfter: "wha_unknown" })).toBeNull();
        expect(await store.webhooks.listAttempts("whe_other", { limit: 2, startingAfter: a2.attemptId })).toBeNull();
      });

      it("gives each due message to exactly one of many concurrent claimers", async () => {
        const e = endpointRec();
        const msgs = Array.from({ length: 30 }, (_, i) => messageRec(e.endpointId, `evt_c${i}`));
        await store.webhooks.enqueue(msgs);
        const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => store.webhooks.claimDue(T0, 10, 1000, `owner-${i}`)));
        const ids = claims.flat().map((m) => m.messageId);
        expect(new Set(ids).size).toBe(ids.length);
        const more = await store.webhooks.claimDue(T0, 100, 1000, "late");
        expect(ids.length + more.length).toBe(30);
      });
    });

    defineBatchStoreContract(() => store);
  });
}
