/**
 * @module
 * The SQL store: one implementation of every store port over a synchronous SqlDriver, so the
 * same code runs on better-sqlite3 (Node) and Durable Object SQLite storage (Workers).
 *
 * The ledger is double-entry: every movement writes entries that sum to zero across wallet
 * accounts (the wallet id) and system accounts (`system:*`). A wallet's `balance` column is
 * kept in the same transaction and has a CHECK that it never goes below zero.
 */
import type { ClaimRef, ClaimRequest, ClaimResult, IdempotencyRecord, StoredResponse } from "../../ports/idempotency.js";
import type { ClientRecord, TokenRecord } from "../../ports/credentials.js";
import type {
  BeginPayoutOutcome,
  CancelPayoutOutcome,
  LedgerAudit,
  LedgerReadsSync,
  Payment,
  Payout,
  PayoutRequest,
  PayoutSettlement,
  ReverseOutcome,
  TransferOutcome,
  TransferRequest,
  User,
  Wallet,
} from "../../ports/ledger.js";
import type { PaymentBatchStore } from "../../ports/payment-batches.js";
import type { Store } from "../../ports/store.js";
import { claimedRecord, decideClaim, holdsClaim } from "../../core/idempotency-rules.js";
import { canMovePayment, canMovePayout, newPayment, newPayout, PAYOUT_MOVEMENTS, walletCanMove } from "../../core/ledger-rules.js";
import {
  clientRecord,
  type Fields,
  type FlatRecord,
  idempotencyRecord,
  paymentRecord,
  payoutRecord,
  tokenRecord,
  userRecord,
  walletRecord,
} from "../../core/records.js";
import type { SqlDriver, SqlRow, SqlValue } from "./driver.js";
import { migrate } from "./migrations.js";
import { sqlPaymentBatches } from "./sql-payment-batches.js";
import { BUMP_CREDENTIALS_VERSION, sqlAdminOps } from "./sql-admin.js";
import { SqlWebhookStore } from "./sql-webhooks.js";
import { SqlBatchStore } from "./sql-batches.js";
import { sqlTreasury } from "./sql-treasury.js";
import type { TreasuryStore } from "../../ports/treasury.js";

import { SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT, railAccount } from "../ledger-accounts.js";

export { SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT };

/** A record field's column: the field name in snake_case (`fromWalletId` → `from_wallet_id`). */
const column = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `SELECT` list giving each column back under its record field name. */
const selectOf = (fields: readonly string[]) => fields.map((f) => `${column(f)} AS ${f}`).join(", ");

/** `INSERT INTO table (columns) VALUES (?...)` for a record's fields, in their order. */
const insertOf = (table: string, fields: readonly string[]) =>
  `INSERT INTO ${table} (${fields.map(column).join(", ")}) VALUES (${fields.map(() => "?").join(", ")})`;

const valuesOf = (rec: FlatRecord, fields: readonly string[]): SqlValue[] => fields.map((f) => rec[f] ?? null);

const SQL = {
  client: `SELECT ${selectOf(clientRecord.fields)} FROM clients WHERE client_id = ?`,
  token: `SELECT ${selectOf(tokenRecord.fields)} FROM tokens WHERE token_hash = ?`,
  user: `SELECT ${selectOf(userRecord.fields)} FROM users WHERE user_id = ?`,
  wallet: `SELECT ${selectOf(walletRecord.fields)} FROM wallets WHERE wallet_id = ?`,
  wallets: `SELECT ${selectOf(walletRecord.fields)} FROM wallets WHERE user_id = ? ORDER BY created_at, wallet_id`,
  payment: `SELECT ${selectOf(paymentRecord.fields)} FROM payments WHERE payment_id = ?`,
  payout: `SELECT ${selectOf(payoutRecord.fields)} FROM payouts WHERE payout_id = ?`,
  idem: `SELECT ${selectOf(idempotencyRecord.fields)} FROM idempotency WHERE scope = ? AND key = ?`,
  insertClient: insertOf("clients", clientRecord.fields),
  insertToken: insertOf("tokens", tokenRecord.fields),
  insertUser: insertOf("users", userRecord.fields),
  insertWallet: insertOf("wallets", walletRecord.fields),
  insertPayment: insertOf("payments", paymentRecord.fields),
  insertPayout: insertOf("payouts", payoutRecord.fields),
  bumpCredentialsVersion: BUMP_CREDENTIALS_VERSION,
  credentialsVersion:
    "SELECT (SELECT value FROM meta WHERE key = 'credentials_epoch') || ':' || (SELECT value FROM meta WHERE key = 'credentials_version') AS v",
  walletsVersion:
    "SELECT (SELECT value FROM meta WHERE key = 'credentials_epoch') || ':' || (SELECT value FROM meta WHERE key = 'wallets_version') AS v",
  upsertIdem: `${insertOf("idempotency", ["scope", "key", ...idempotencyRecord.fields])}
    ON CONFLICT(scope, key) DO UPDATE SET ${idempotencyRecord.fields.map((f) => `${column(f)} = excluded.${column(f)}`).join(", ")}`,
} as const;

/** Wallets kept by the snapshot wallet cache at most; past it the cache starts again. */
const WALLET_CACHE_MAX = 50_000;

export class SqlStore implements Store {
  /** Brings the schema up to date (src/adapters/sqlite/migrations.ts) before anything else. */
  readonly webhooks: SqlWebhookStore;

  readonly batches: SqlBatchStore;

  constructor(private readonly db: SqlDriver) {
    migrate(db);
    this.paymentBatches = sqlPaymentBatches(db);
    this.webhooks = new SqlWebhookStore(db);
    this.batches = new SqlBatchStore(db);
  }

  readonly paymentBatches: PaymentBatchStore;

  /** Clients' treasury wallets, recipients' wallets on demand, default destinations (sql-treasury.ts). */
  readonly treasury: TreasuryStore = sqlTreasury(() => this.db);

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

  private readonly admin = sqlAdminOps(() => this.db);
  readonly audit = this.admin.audit;

  readonly clients = {
    ...this.admin.clients,
    createClient: async (c: ClientRecord) => {
      this.db.run(SQL.insertClient, valuesOf(clientRecord.to(c), clientRecord.fields));
    },
    findClient: async (clientId: number): Promise<ClientRecord | null> => this.one(SQL.client, [clientId], clientRecord),
    findClientSync: (clientId: number): ClientRecord | null => this.one(SQL.client, [clientId], clientRecord),
  };

  readonly tokens = {
    ...this.admin.tokens,
    createToken: async (t: TokenRecord) =>
      this.tx(() => {
        this.db.run(SQL.insertToken, valuesOf(tokenRecord.to(t), tokenRecord.fields));
        this.db.run(SQL.bumpCredentialsVersion);
      }),
    findToken: async (tokenHash: string): Promise<TokenRecord | null> => this.one(SQL.token, [tokenHash], tokenRecord),
    expireToken: async (tokenHash: string, at: number): Promise<boolean> =>
      this.tx(() => {
        if (this.db.run("UPDATE tokens SET expires_at = ? WHERE token_hash = ?", [at, tokenHash]) !== 1) return false;
        this.db.run(SQL.bumpCredentialsVersion);
        return true;
      }),
    credentialsVersion: async (): Promise<string | null> => this.credentialsVersionNow(),
    credentialsVersionSync: (): string | null => this.credentialsVersionNow(),
  };

  /**
   * Wallets read in read snapshots, kept while the wallets version (bumped by trigger in the same
   * transaction as every write to the table, by any process: migration 12) is the one they were
   * read at. `walletsLive` is set only inside a snapshot this store began and after that
   * snapshot's version read; anywhere else a wallet is read from the table.
   */
  private readonly walletCache = new Map<string, Wallet>();
  private walletCacheTag: string | null = null;
  private walletsLive = false;

  readSnapshot<T>(fn: () => T): T {
    // Inside another transaction (a write's, possibly with its own uncommitted wallet changes),
    // the reads just share it, uncached.
    if (this.db.inTransaction()) return fn();
    return this.db.readTransaction(() => {
      const tag = this.db.get<{ v: string | null }>(SQL.walletsVersion)?.v ?? null;
      if (tag !== this.walletCacheTag || tag === null) {
        this.walletCache.clear();
        this.walletCacheTag = tag;
      }
      this.walletsLive = tag !== null;
      try {
        return fn();
      } finally {
        this.walletsLive = false;
      }
    });
  }

  /** A wallet in a snapshot: from the cache when read at this version, else read and kept. */
  private snapshotWallet(walletId: string): Wallet | null {
    if (!this.walletsLive) return this.walletRow(walletId);
    const hit = this.walletCache.get(walletId);
    if (hit) return hit;
    const w = this.walletRow(walletId);
    if (w) {
      if (this.walletCache.size >= WALLET_CACHE_MAX) this.walletCache.clear();
      this.walletCache.set(walletId, Object.freeze(w));
    }
    return w;
  }

  readonly idempotency = {
    claim: async (req: ClaimRequest): Promise<ClaimResult> =>
      this.tx((): ClaimResult => {
        const decision = decideClaim(this.idemRow(req.scope, req.key), req.now);
        if (decision.kind !== "take") return decision;
        this.writeIdem(req.scope, req.key, claimedRecord(req, req.now, req.leaseMs, req.retentionMs));
        return { kind: "claimed" };
      }),
    renew: async (claim: ClaimRef, now: number, leaseMs: number): Promise<boolean> =>
      this.tx(() => {
        const row = this.idemRow(claim.scope, claim.key);
        if (!row || !holdsClaim(row, claim)) return false;
        this.writeIdem(claim.scope, claim.key, { ...row, lockedUntil: now + leaseMs });
        return true;
      }),
    complete: async (claim: ClaimRef, response: StoredResponse, now: number, retentionMs: number): Promise<boolean> =>
      this.tx(() => {
        const row = this.idemRow(claim.scope, claim.key);
        if (!row || !holdsClaim(row, claim)) return false;
        this.writeIdem(claim.scope, claim.key, { ...row, state: "completed", response, expiresAt: now + retentionMs });
        return true;
      }),
    release: async (claim: ClaimRef): Promise<boolean> =>
      this.tx(() => {
        if (!holdsClaim(this.idemRow(claim.scope, claim.key), claim)) return false;
        this.db.run("DELETE FROM idempotency WHERE scope = ? AND key = ?", [claim.scope, claim.key]);
        return true;
      }),
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

  private readonly reads: LedgerReadsSync = {
    getUser: (userId) => this.one(SQL.user, [userId], userRecord),
    getWallet: (walletId) => this.snapshotWallet(walletId),
    listWallets: (userId) => this.db.all<Fields>(SQL.wallets, [userId]).map(walletRecord.from),
    getPayment: (paymentId) => this.paymentRow(paymentId),
    getPayout: (payoutId) => this.payoutRow(payoutId),
  };

  readonly ledger = {
    ...this.admin.wallets,
    sync: this.reads,
    createUser: async (u: User) => {
      this.db.run(SQL.insertUser, valuesOf(userRecord.to(u), userRecord.fields));
    },
    getUser: async (userId: string): Promise<User | null> => this.reads.getUser(userId),
    createWallet: async (w: Omit<Wallet, "balance">, funding: number): Promise<Wallet> =>
      this.tx(() => {
        assertMinorUnits(funding, true);
        const wallet: Wallet = { walletId: w.walletId, userId: w.userId, currency: w.currency, balance: funding, status: "active", createdAt: w.createdAt };
        this.db.run(SQL.insertWallet, valuesOf(walletRecord.to(wallet), walletRecord.fields));
        if (funding > 0) this.move(SYSTEM_FUNDING, w.walletId, funding, "funding", w.walletId, w.createdAt);
        return wallet;
      }),
    getWallet: async (walletId: string) => this.walletRow(walletId),
    listWallets: async (userId: string): Promise<Wallet[]> => this.reads.listWallets(userId),

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
        if (!walletCanMove(from.status) || !walletCanMove(to.status)) return { ok: false, reason: "wallet_frozen" };
        if (!this.debit(from.walletId, req.amount)) return { ok: false, reason: "insufficient_funds" };
        this.credit(to.walletId, req.amount);
        this.move(from.walletId, to.walletId, req.amount, "payment", req.paymentId, req.now);
        const payment = newPayment(req);
        this.db.run(SQL.insertPayment, valuesOf(paymentRecord.to(payment), paymentRecord.fields));
        return { ok: true, payment: this.paymentRow(req.paymentId)! };
      }),
    getPayment: async (paymentId: string) => this.paymentRow(paymentId),
    reversePayment: async (paymentId: string, now: number): Promise<ReverseOutcome> =>
      this.tx((): ReverseOutcome => {
        const p = this.paymentRow(paymentId);
        if (!p) return { ok: false, reason: "not_found" };
        if (!canMovePayment(p.status, "reversed")) return { ok: false, reason: "payment_not_reversible" };
        if (!walletCanMove(this.walletRow(p.fromWalletId)?.status) || !walletCanMove(this.walletRow(p.toWalletId)?.status)) {
          return { ok: false, reason: "wallet_frozen" };
        }
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
        if (!walletCanMove(w.status)) return { ok: false, reason: "wallet_frozen" };
        if (!this.debit(w.walletId, req.amount)) return { ok: false, reason: "insufficient_funds" };
        this.move(w.walletId, SYSTEM_PAYOUTS_IN_FLIGHT, req.amount, "payout", req.payoutId, req.now);
        const payout = newPayout(req);
        this.db.run(SQL.insertPayout, valuesOf(payoutRecord.to(payout), payoutRecord.fields));
        return { ok: true, payout: this.payoutRow(req.payoutId)! };
      }),
    settlePayout: async (payoutId: string, s: PayoutSettlement, now: number): Promise<Payout | null> =>
      this.tx(() => {
        const p = this.payoutRow(payoutId);
        if (!p) return null;
        if (!canMovePayout(p.status, s.status)) return p;
        this.movePayoutMoney(p, s.status, now);
        this.db.run("UPDATE payouts SET status = ?, failure_code = ?, failure_kind = ?, provider_reference = ?, updated_at = ? WHERE payout_id = ?", [
          s.status,
          s.status === "failed" ? s.failureCode : null,
          s.status === "failed" ? s.failureKind : null,
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
        if (!canMovePayout(p.status, "cancelled")) return { ok: false, reason: "payout_not_cancellable" };
        this.movePayoutMoney(p, "cancelled", now);
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

  private credentialsVersionNow(): string | null {
    const r = this.db.get<{ v: string | null }>(SQL.credentialsVersion);
    return r?.v == null ? null : String(r.v);
  }

  /**
   * One record by a `SELECT` of its fields in their order (SQL.*). Read as column values where the
   * driver offers them (no row object built by the driver), else as a row.
   */
  private one<T>(sql: string, params: SqlValue[], rec: { fields: readonly string[]; from: (f: Fields) => T }): T | null {
    if (!this.db.values) {
      const r = this.db.get<Fields>(sql, params);
      return r ? rec.from(r) : null;
    }
    const v = this.db.values(sql, params);
    if (!v) return null;
    const f: Fields = {};
    for (let i = 0; i < rec.fields.length; i++) f[rec.fields[i]] = v[i];
    return rec.from(f);
  }

  private walletRow(walletId: string): Wallet | null {
    return this.one(SQL.wallet, [walletId], walletRecord);
  }

  private paymentRow(paymentId: string): Payment | null {
    return this.one(SQL.payment, [paymentId], paymentRecord);
  }

  private payoutRow(payoutId: string): Payout | null {
    return this.one(SQL.payout, [payoutId], payoutRecord);
  }

  private idemRow(scope: string, key: string): IdempotencyRecord | null {
    return this.one(SQL.idem, [scope, key], idempotencyRecord);
  }

  private writeIdem(scope: string, key: string, rec: IdempotencyRecord) {
    this.db.run(SQL.upsertIdem, [scope, key, ...valuesOf(idempotencyRecord.to(rec), idempotencyRecord.fields)]);
  }

  /** Moves a payout's money out of the in-flight account as the ledger rules say for `to`. */
  private movePayoutMoney(p: Payout, to: Payout["status"], now: number) {
    const m = PAYOUT_MOVEMENTS[to];
    if (m.to === "rail") {
      this.move(SYSTEM_PAYOUTS_IN_FLIGHT, railAccount(p.rail), p.amount, m.kind, p.payoutId, now);
    } else if (m.to === "wallet") {
      this.credit(p.walletId, p.amount);
      this.move(SYSTEM_PAYOUTS_IN_FLIGHT, p.walletId, p.amount, m.kind, p.payoutId, now);
    }
  }
}

/** Money in the ledger is whole minor units, as the Redis store enforces too; anything else is a bug upstream. */
function assertMinorUnits(amount: number, zeroAllowed = false) {
  if (!Number.isSafeInteger(amount) || amount < 0 || (!zeroAllowed && amount === 0)) {
    throw new RangeError(`amount must be a positive whole number of minor units, got ${amount}`);
  }
}
