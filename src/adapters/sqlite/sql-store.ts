/**
 * @module
 * The SQL store: one implementation of every store port over a synchronous SqlDriver, so the
 * same code runs on better-sqlite3 (Node) and Durable Object SQLite storage (Workers).
 *
 * The ledger is double-entry: every movement writes entries that sum to zero across wallet
 * accounts (the wallet id) and system accounts (`system:*`). A wallet's `balance` column is
 * kept in the same transaction and has a CHECK that it never goes below zero.
 */
import type {
  BeginPayoutOutcome,
  CancelPayoutOutcome,
  ClientRecord,
  LedgerAudit,
  Payment,
  Payout,
  PayoutRequest,
  PayoutSettlement,
  ReverseOutcome,
  Store,
  TokenRecord,
  TransferOutcome,
  TransferRequest,
  User,
  Wallet,
} from "../../ports/store.js";
import type { ClaimRequest, ClaimResult, StoredResponse } from "../../ports/idempotency.js";
import type { SqlDriver, SqlRow } from "./driver.js";

import { SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT, railAccount } from "../ledger-accounts.js";

export { SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
  client_id INTEGER PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY, email TEXT NOT NULL, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id), scopes TEXT NOT NULL,
  expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wallets (
  wallet_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id), currency TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0), created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS wallets_user ON wallets(user_id);
CREATE TABLE IF NOT EXISTS payments (
  payment_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, from_wallet_id TEXT NOT NULL, to_wallet_id TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0), currency TEXT NOT NULL, description TEXT,
  status TEXT NOT NULL, created_at INTEGER NOT NULL, reversed_at INTEGER);
CREATE TABLE IF NOT EXISTS payouts (
  payout_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, wallet_id TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL, rail TEXT NOT NULL, destination TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
  failure_code TEXT, provider_reference TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_entries (
  entry_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, amount INTEGER NOT NULL,
  kind TEXT NOT NULL, ref_id TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries(account);
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
  status INTEGER, body TEXT, locked_until INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency(expires_at);
`;

export class SqlStore implements Store {
  constructor(private readonly db: SqlDriver) {
    db.exec(SCHEMA);
  }

  /** Every business check happens before the first write, so an early return needs no rollback. */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  /** Two entries that sum to zero: `amount` leaves `from` and arrives in `to`. */
  private move(from: string, to: string, amount: number, kind: string, ref: string, now: number) {
    this.db.run(
      "INSERT INTO ledger_entries (account, amount, kind, ref_id, created_at) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)",
      [from, -amount, kind, ref, now, to, amount, kind, ref, now],
    );
  }

  /** Debits a wallet if it holds enough; false (and nothing written) when it does not. */
  private debit(walletId: string, amount: number): boolean {
    return this.db.run("UPDATE wallets SET balance = balance - ? WHERE wallet_id = ? AND balance >= ?", [amount, walletId, amount]) === 1;
  }

  private credit(walletId: string, amount: number) {
    this.db.run("UPDATE wallets SET balance = balance + ? WHERE wallet_id = ?", [amount, walletId]);
  }

  readonly clients = {
    createClient: async (c: ClientRecord) => {
      this.db.run("INSERT INTO clients (client_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)", [
        c.clientId,
        c.name,
        c.secretHash,
        c.createdAt,
      ]);
    },
    findClient: async (clientId: number): Promise<ClientRecord | null> => {
      const r = this.db.get("SELECT * FROM clients WHERE client_id = ?", [clientId]);
      return r ? { clientId: Number(r.client_id), name: String(r.name), secretHash: String(r.secret_hash), createdAt: Number(r.created_at) } : null;
    },
  };

  readonly tokens = {
    createToken: async (t: TokenRecord) => {
      this.db.run("INSERT INTO tokens (token_hash, user_id, scopes, expires_at, revoked, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
        t.tokenHash,
        t.userId,
        t.scopes.join(" "),
        t.expiresAt,
        t.revoked ? 1 : 0,
        t.createdAt,
      ]);
    },
    findToken: async (tokenHash: string): Promise<TokenRecord | null> => {
      const r = this.db.get("SELECT * FROM tokens WHERE token_hash = ?", [tokenHash]);
      if (!r) return null;
      return {
        tokenHash: String(r.token_hash),
        userId: String(r.user_id),
        scopes: String(r.scopes).split(" ").filter(Boolean),
        expiresAt: r.expires_at === null ? null : Number(r.expires_at),
        revoked: Number(r.revoked) === 1,
        createdAt: Number(r.created_at),
      };
    },
  };

  readonly idempotency = {
    claim: async (req: ClaimRequest): Promise<ClaimResult> =>
      this.tx((): ClaimResult => {
        const row = this.db.get("SELECT * FROM idempotency WHERE scope = ? AND key = ?", [req.scope, req.key]);
        const live = row && Number(row.expires_at) > req.now;
        if (live && row.state === "completed") {
          return { kind: "completed", fingerprint: String(row.fingerprint), response: { status: Number(row.status), body: String(row.body) } };
        }
        if (live && Number(row.locked_until) > req.now) return { kind: "in_flight", fingerprint: String(row.fingerprint) };
        // Absent, expired, or an in-flight claim whose owner never finished: take it.
        this.db.run(
          `INSERT INTO idempotency (scope, key, fingerprint, state, status, body, locked_until, expires_at) VALUES (?, ?, ?, 'in_flight', NULL, NULL, ?, ?)
           ON CONFLICT(scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight', status = NULL, body = NULL,
             locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
          [req.scope, req.key, req.fingerprint, req.now + req.inFlightMs, req.now + req.retentionMs],
        );
        return { kind: "claimed" };
      }),
    complete: async (scope: string, key: string, fingerprint: string, response: StoredResponse, now: number, retentionMs: number) => {
      this.db.run(
        "UPDATE idempotency SET state = 'completed', status = ?, body = ?, expires_at = ? WHERE scope = ? AND key = ? AND fingerprint = ? AND state = 'in_flight'",
        [response.status, response.body, now + retentionMs, scope, key, fingerprint],
      );
    },
    release: async (scope: string, key: string, fingerprint: string) => {
      this.db.run("DELETE FROM idempotency WHERE scope = ? AND key = ? AND fingerprint = ? AND state = 'in_flight'", [scope, key, fingerprint]);
    },
    purgeExpired: async (now: number) => this.db.run("DELETE FROM idempotency WHERE expires_at <= ?", [now]),
  };

  readonly meta = {
    claimMeta: async (key: string, value: string) =>
      this.db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", [key, value]) === 1,
    getMeta: async (key: string) => {
      const r = this.db.get("SELECT value FROM meta WHERE key = ?", [key]);
      return r ? String(r.value) : null;
    },
    setMeta: async (key: string, value: string) => {
      this.db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value]);
    },
  };

  readonly ledger = {
    createUser: async (u: User) => {
      this.db.run("INSERT INTO users (user_id, email, first_name, last_name, created_at) VALUES (?, ?, ?, ?, ?)", [
        u.userId,
        u.email,
        u.firstName,
        u.lastName,
        u.createdAt,
      ]);
    },
    getUser: async (userId: string): Promise<User | null> => {
      const r = this.db.get("SELECT * FROM users WHERE user_id = ?", [userId]);
      return r
        ? { userId: String(r.user_id), email: String(r.email), firstName: String(r.first_name), lastName: String(r.last_name), createdAt: Number(r.created_at) }
        : null;
    },
    createWallet: async (w: Omit<Wallet, "balance">, funding: number): Promise<Wallet> =>
      this.tx(() => {
        assertMinorUnits(funding, true);
        this.db.run("INSERT INTO wallets (wallet_id, user_id, currency, balance, created_at) VALUES (?, ?, ?, ?, ?)", [
          w.walletId,
          w.userId,
          w.currency,
          funding,
          w.createdAt,
        ]);
        if (funding > 0) this.move(SYSTEM_FUNDING, w.walletId, funding, "funding", w.walletId, w.createdAt);
        return { ...w, balance: funding };
      }),
    getWallet: async (walletId: string) => this.walletRow(walletId),
    listWallets: async (userId: string): Promise<Wallet[]> =>
      this.db.all("SELECT * FROM wallets WHERE user_id = ? ORDER BY created_at, wallet_id", [userId]).map(toWallet),

    transfer: async (req: TransferRequest): Promise<TransferOutcome> =>
      this.tx((): TransferOutcome => {
        assertMinorUnits(req.amount);
        // A payment id names one payment: asking again returns it instead of paying twice.
        const existing = this.paymentRow(req.paymentId);
        if (existing) return { ok: true, payment: existing };
        const from = this.walletRow(req.fromWalletId);
        const to = this.walletRow(req.toWalletId);
        if (!from || !to) return { ok: false, reason: "not_found" };
        if (from.currency !== req.currency || to.currency !== req.currency) return { ok: false, reason: "currency_mismatch" };
        if (!this.debit(from.walletId, req.amount)) return { ok: false, reason: "insufficient_funds" };
        this.credit(to.walletId, req.amount);
        this.move(from.walletId, to.walletId, req.amount, "payment", req.paymentId, req.now);
        this.db.run(
          "INSERT INTO payments (payment_id, user_id, from_wallet_id, to_wallet_id, amount, currency, description, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'completed', ?)",
          [req.paymentId, req.userId, req.fromWalletId, req.toWalletId, req.amount, req.currency, req.description, req.now],
        );
        return { ok: true, payment: this.paymentRow(req.paymentId)! };
      }),
    getPayment: async (paymentId: string) => this.paymentRow(paymentId),
    reversePayment: async (paymentId: string, now: number): Promise<ReverseOutcome> =>
      this.tx((): ReverseOutcome => {
        const p = this.paymentRow(paymentId);
        if (!p) return { ok: false, reason: "not_found" };
        if (p.status !== "completed") return { ok: false, reason: "payment_not_reversible" };
        if (!this.debit(p.toWalletId, p.amount)) return { ok: false, reason: "insufficient_funds" };
        this.credit(p.fromWalletId, p.amount);
        this.move(p.toWalletId, p.fromWalletId, p.amount, "reversal", p.paymentId, now);
        this.db.run("UPDATE payments SET status = 'reversed', reversed_at = ? WHERE payment_id = ?", [now, paymentId]);
        return { ok: true, payment: this.paymentRow(paymentId)! };
      }),

    beginPayout: async (req: PayoutRequest): Promise<BeginPayoutOutcome> =>
      this.tx((): BeginPayoutOutcome => {
        assertMinorUnits(req.amount);
        const existing = this.payoutRow(req.payoutId);
        if (existing) return { ok: true, payout: existing };
        const w = this.walletRow(req.walletId);
        if (!w) return { ok: false, reason: "not_found" };
        if (w.currency !== req.currency) return { ok: false, reason: "currency_mismatch" };
        if (!this.debit(w.walletId, req.amount)) return { ok: false, reason: "insufficient_funds" };
        this.move(w.walletId, SYSTEM_PAYOUTS_IN_FLIGHT, req.amount, "payout", req.payoutId, req.now);
        this.db.run(
          "INSERT INTO payouts (payout_id, user_id, wallet_id, amount, currency, rail, destination, description, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'processing', ?, ?)",
          [req.payoutId, req.userId, req.walletId, req.amount, req.currency, req.rail, JSON.stringify(req.destination), req.description, req.now, req.now],
        );
        return { ok: true, payout: this.payoutRow(req.payoutId)! };
      }),
    settlePayout: async (payoutId: string, s: PayoutSettlement, now: number): Promise<Payout | null> =>
      this.tx(() => {
        const p = this.payoutRow(payoutId);
        if (!p) return null;
        const from = p.status;
        // processing → completed | pending | failed; pending → completed | failed. Anything else is final.
        if (!(from === "processing" || (from === "pending" && s.status !== "pending"))) return p;
        if (s.status === "completed") {
          this.move(SYSTEM_PAYOUTS_IN_FLIGHT, railAccount(p.rail), p.amount, "payout_settled", p.payoutId, now);
        } else if (s.status === "failed") {
          this.credit(p.walletId, p.amount);
          this.move(SYSTEM_PAYOUTS_IN_FLIGHT, p.walletId, p.amount, "payout_refund", p.payoutId, now);
        }
        this.db.run("UPDATE payouts SET status = ?, failure_code = ?, provider_reference = ?, updated_at = ? WHERE payout_id = ?", [
          s.status,
          s.status === "failed" ? s.failureCode : null,
          s.status === "failed" ? null : s.providerReference,
          now,
          payoutId,
        ]);
        return this.payoutRow(payoutId);
      }),
    cancelPayout: async (payoutId: string, now: number): Promise<CancelPayoutOutcome> =>
      this.tx((): CancelPayoutOutcome => {
        const p = this.payoutRow(payoutId);
        if (!p) return { ok: false, reason: "not_found" };
        if (p.status !== "pending") return { ok: false, reason: "payout_not_cancellable" };
        this.credit(p.walletId, p.amount);
        this.move(SYSTEM_PAYOUTS_IN_FLIGHT, p.walletId, p.amount, "payout_cancel", p.payoutId, now);
        this.db.run("UPDATE payouts SET status = 'cancelled', updated_at = ? WHERE payout_id = ?", [now, payoutId]);
        return { ok: true, payout: this.payoutRow(payoutId)! };
      }),
    getPayout: async (payoutId: string) => this.payoutRow(payoutId),

    audit: async (): Promise<LedgerAudit> => {
      const walletSum = Number(this.db.get<SqlRow>("SELECT COALESCE(SUM(balance), 0) AS s FROM wallets")!.s);
      const entrySum = Number(this.db.get<SqlRow>("SELECT COALESCE(SUM(amount), 0) AS s FROM ledger_entries")!.s);
      const systemAccounts: Record<string, number> = {};
      for (const r of this.db.all("SELECT account, SUM(amount) AS s FROM ledger_entries WHERE account LIKE 'system:%' GROUP BY account")) {
        systemAccounts[String(r.account)] = Number(r.s);
      }
      const mismatchedWallets = this.db
        .all(
          `SELECT w.wallet_id FROM wallets w LEFT JOIN (SELECT account, SUM(amount) AS s FROM ledger_entries GROUP BY account) e
           ON e.account = w.wallet_id WHERE w.balance != COALESCE(e.s, 0)`,
        )
        .map((r) => String(r.wallet_id));
      return { walletBalanceSum: walletSum, systemAccounts, mismatchedWallets, entrySum };
    },
  };

  async ping(): Promise<void> {
    this.db.get("SELECT 1");
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private walletRow(walletId: string): Wallet | null {
    const r = this.db.get("SELECT * FROM wallets WHERE wallet_id = ?", [walletId]);
    return r ? toWallet(r) : null;
  }

  private paymentRow(paymentId: string): Payment | null {
    const r = this.db.get("SELECT * FROM payments WHERE payment_id = ?", [paymentId]);
    if (!r) return null;
    return {
      paymentId: String(r.payment_id),
      userId: String(r.user_id),
      fromWalletId: String(r.from_wallet_id),
      toWalletId: String(r.to_wallet_id),
      amount: Number(r.amount),
      currency: String(r.currency),
      description: r.description === null ? null : String(r.description),
      status: String(r.status) as Payment["status"],
      createdAt: Number(r.created_at),
      reversedAt: r.reversed_at === null ? null : Number(r.reversed_at),
    };
  }

  private payoutRow(payoutId: string): Payout | null {
    const r = this.db.get("SELECT * FROM payouts WHERE payout_id = ?", [payoutId]);
    if (!r) return null;
    return {
      payoutId: String(r.payout_id),
      userId: String(r.user_id),
      walletId: String(r.wallet_id),
      amount: Number(r.amount),
      currency: String(r.currency),
      rail: String(r.rail),
      destination: JSON.parse(String(r.destination)) as Record<string, string>,
      description: r.description === null ? null : String(r.description),
      status: String(r.status) as Payout["status"],
      failureCode: r.failure_code === null ? null : String(r.failure_code),
      providerReference: r.provider_reference === null ? null : String(r.provider_reference),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    };
  }
}

/** Money in the ledger is whole minor units, as the Redis store enforces too; anything else is a bug upstream. */
function assertMinorUnits(amount: number, zeroAllowed = false) {
  if (!Number.isSafeInteger(amount) || amount < 0 || (!zeroAllowed && amount === 0)) {
    throw new RangeError(`amount must be a positive whole number of minor units, got ${amount}`);
  }
}

function toWallet(r: SqlRow): Wallet {
  return {
    walletId: String(r.wallet_id),
    userId: String(r.user_id),
    currency: String(r.currency),
    balance: Number(r.balance),
    createdAt: Number(r.created_at),
  };
}
