/**
 * @module
 * The SQL store's admin operations (src/ports/credentials-admin.ts, wallet-admin.ts, audit.ts):
 * client ids and statuses, secret rotation, token revocation and listing, wallet funding and
 * freezing, ledger entries and the audit log. Every change that can end a credential's validity
 * bumps `credentials_version` in the meta table in the same transaction.
 */
import type { AuditRecord, AuditStore } from "../../ports/audit.js";
import type { ClientRecord, ClientStatus, TokenRecord } from "../../ports/credentials.js";
import { type ClientAdminOps, FIRST_CLIENT_ID, type TokenAdminOps } from "../../ports/credentials-admin.js";
import type { Wallet, WalletStatus } from "../../ports/ledger.js";
import { type Page, type PageRequest, UnknownCursorError } from "../../ports/paging.js";
import type { FundOutcome, FundRequest, Funding, LedgerEntry, WalletAdminOps } from "../../ports/wallet-admin.js";
import { walletCanMove } from "../../core/ledger-rules.js";
import { clientRecord, type Fields, tokenRecord, walletRecord } from "../../core/records.js";
import { SYSTEM_FUNDING } from "../ledger-accounts.js";
import type { SqlDriver, SqlRow } from "./driver.js";

export const CREDENTIALS_VERSION_KEY = "credentials_version";

const column = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const selectOf = (fields: readonly string[]) => fields.map((f) => `${column(f)} AS ${f}`).join(", ");

const SQL = {
  client: `SELECT ${selectOf(clientRecord.fields)} FROM clients WHERE client_id = ?`,
  tokenById: `SELECT ${selectOf(tokenRecord.fields)} FROM tokens WHERE token_id = ?`,
  wallet: `SELECT ${selectOf(walletRecord.fields)} FROM wallets WHERE wallet_id = ?`,
  funding: "SELECT funding_id AS fundingId, wallet_id AS walletId, amount, currency, reason, created_at AS createdAt FROM fundings WHERE funding_id = ?",
  bumpVersion: `INSERT INTO meta (key, value) VALUES ('${CREDENTIALS_VERSION_KEY}', '1')
    ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`,
} as const;

/** Bumps the credentials version the principal cache is keyed by (src/core/auth.ts). */
export const BUMP_CREDENTIALS_VERSION = SQL.bumpVersion;

/** Keeps one more row than asked, to tell whether there is more. */
function pageOf<T>(rows: T[], limit: number): Page<T> {
  return { data: rows.slice(0, limit), hasMore: rows.length > limit };
}

/** `db` is read at each call: the store builds these before its constructor has the driver. */
export function sqlAdminOps(db: () => SqlDriver) {
  const one = <T>(sql: string, params: (string | number)[], from: (f: Fields) => T): T | null => {
    const r = db().get<Fields>(sql, params);
    return r ? from(r) : null;
  };
  const tx = <T>(fn: () => T): T => db().transaction(fn);
  const bump = () => db().run(SQL.bumpVersion);

  const clients: ClientAdminOps = {
    createNextClient: async (c: Omit<ClientRecord, "clientId">) =>
      tx(() => {
        const max = Number(db().get<SqlRow>("SELECT COALESCE(MAX(client_id), 0) AS m FROM clients")!.m);
        const clientId = Math.max(max + 1, FIRST_CLIENT_ID);
        db().run("INSERT INTO clients (client_id, name, secret_hash, status, created_at) VALUES (?, ?, ?, ?, ?)", [
          clientId,
          c.name,
          c.secretHash,
          c.status ?? "active",
          c.createdAt,
        ]);
        return one(SQL.client, [clientId], clientRecord.from)!;
      }),
    setClientStatus: async (clientId: number, status: ClientStatus) =>
      tx(() => {
        if (db().run("UPDATE clients SET status = ? WHERE client_id = ?", [status, clientId]) === 0) return null;
        bump();
        return one(SQL.client, [clientId], clientRecord.from);
      }),
    rotateClientSecret: async (clientId: number, secretHash: string) =>
      tx(() => {
        if (db().run("UPDATE clients SET secret_hash = ? WHERE client_id = ?", [secretHash, clientId]) === 0) return null;
        bump();
        return one(SQL.client, [clientId], clientRecord.from);
      }),
  };

  const tokens: TokenAdminOps & { revokeToken(tokenHash: string, now: number): Promise<boolean> } = {
    revokeToken: async (tokenHash: string, now: number) =>
      tx(() => {
        if (db().run("UPDATE tokens SET revoked = 1, revoked_at = ? WHERE token_hash = ? AND revoked = 0", [now, tokenHash]) === 0) return false;
        bump();
        return true;
      }),
    findTokenById: async (tokenId: string) => one(SQL.tokenById, [tokenId], tokenRecord.from),
    listUserTokens: async (userId: string, page: PageRequest): Promise<Page<TokenRecord>> => {
      const select = `SELECT ${selectOf(tokenRecord.fields)} FROM tokens WHERE user_id = ?`;
      if (page.startingAfter === undefined) {
        return pageOf(db().all<Fields>(`${select} ORDER BY created_at DESC, token_id DESC LIMIT ?`, [userId, page.limit + 1]).map(tokenRecord.from), page.limit);
      }
      const cursor = db().get<SqlRow>("SELECT created_at, token_id FROM tokens WHERE token_id = ? AND user_id = ?", [page.startingAfter, userId]);
      if (!cursor) throw new UnknownCursorError(page.startingAfter);
      const rows = db().all<Fields>(`${select} AND (created_at, token_id) < (?, ?) ORDER BY created_at DESC, token_id DESC LIMIT ?`, [
        userId,
        Number(cursor.created_at),
        String(cursor.token_id),
        page.limit + 1,
      ]);
      return pageOf(rows.map(tokenRecord.from), page.limit);
    },
  };

  const walletRow = (walletId: string): Wallet | null => one(SQL.wallet, [walletId], walletRecord.from);
  const fundingRow = (fundingId: string): Funding | null =>
    one(SQL.funding, [fundingId], (f) => ({
      fundingId: String(f.fundingId),
      walletId: String(f.walletId),
      amount: Number(f.amount),
      currency: String(f.currency),
      reason: String(f.reason),
      createdAt: Number(f.createdAt),
    }));

  const wallets: WalletAdminOps = {
    fundWallet: async (req: FundRequest): Promise<FundOutcome> =>
      tx((): FundOutcome => {
        if (!Number.isSafeInteger(req.amount) || req.amount <= 0) throw new RangeError(`amount must be a positive whole number of minor units, got ${req.amount}`);
        // The funding id names one funding: asking again returns it instead of crediting twice.
        const existing = fundingRow(req.fundingId);
        if (existing) {
          const w = walletRow(existing.walletId);
          if (!w) throw new Error(`funding ${existing.fundingId} names a missing wallet`);
          return { ok: true, funding: existing, wallet: w, replayed: true };
        }
        const w = walletRow(req.walletId);
        if (!w) return { ok: false, reason: "not_found" };
        if (w.currency !== req.currency) return { ok: false, reason: "currency_mismatch" };
        if (!walletCanMove(w.status)) return { ok: false, reason: "wallet_frozen" };
        db().run("UPDATE wallets SET balance = balance + ? WHERE wallet_id = ?", [req.amount, req.walletId]);
        db().run("INSERT INTO ledger_entries (account, amount, kind, ref_id, created_at) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)", [
          SYSTEM_FUNDING,
          -req.amount,
          "funding",
          req.fundingId,
          req.createdAt,
          req.walletId,
          req.amount,
          "funding",
          req.fundingId,
          req.createdAt,
        ]);
        db().run("INSERT INTO fundings (funding_id, wallet_id, amount, currency, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
          req.fundingId,
          req.walletId,
          req.amount,
          req.currency,
          req.reason,
          req.createdAt,
        ]);
        return { ok: true, funding: fundingRow(req.fundingId)!, wallet: walletRow(req.walletId)!, replayed: false };
      }),
    setWalletStatus: async (walletId: string, status: WalletStatus) =>
      tx(() => {
        if (db().run("UPDATE wallets SET status = ? WHERE wallet_id = ?", [status, walletId]) === 0) return null;
        return walletRow(walletId);
      }),
    listWalletEntries: async (walletId: string, page: PageRequest): Promise<Page<LedgerEntry>> => {
      let before = Number.MAX_SAFE_INTEGER;
      if (page.startingAfter !== undefined) {
        const m = /^ent_([1-9]\d{0,15})$/.exec(page.startingAfter);
        const row = m && db().get<SqlRow>("SELECT entry_id FROM ledger_entries WHERE entry_id = ? AND account = ?", [Number(m[1]), walletId]);
        if (!row) throw new UnknownCursorError(page.startingAfter);
        before = Number(row.entry_id);
      }
      const rows = db().all<SqlRow>(
        "SELECT entry_id, account, amount, kind, ref_id, created_at FROM ledger_entries WHERE account = ? AND entry_id < ? ORDER BY entry_id DESC LIMIT ?",
        [walletId, before, page.limit + 1],
      );
      return pageOf(
        rows.map((r) => ({
          entryId: `ent_${Number(r.entry_id)}`,
          account: String(r.account),
          amount: Number(r.amount),
          kind: String(r.kind),
          refId: String(r.ref_id),
          createdAt: Number(r.created_at),
        })),
        page.limit,
      );
    },
  };

  const audit: AuditStore = {
    append: async (r: AuditRecord) => {
      db().run("INSERT INTO admin_audit (audit_id, actor, action, target, request_id, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        r.auditId,
        r.actor,
        r.action,
        r.target,
        r.requestId,
        JSON.stringify(r.details),
        r.createdAt,
      ]);
    },
    list: async (page: PageRequest): Promise<Page<AuditRecord>> => {
      let before = Number.MAX_SAFE_INTEGER;
      if (page.startingAfter !== undefined) {
        const row = db().get<SqlRow>("SELECT seq FROM admin_audit WHERE audit_id = ?", [page.startingAfter]);
        if (!row) throw new UnknownCursorError(page.startingAfter);
        before = Number(row.seq);
      }
      const rows = db().all<SqlRow>(
        "SELECT audit_id, actor, action, target, request_id, details, created_at FROM admin_audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
        [before, page.limit + 1],
      );
      return pageOf(
        rows.map((r) => ({
          auditId: String(r.audit_id),
          actor: String(r.actor),
          action: String(r.action),
          target: String(r.target),
          requestId: String(r.request_id),
          details: JSON.parse(String(r.details)) as Record<string, unknown>,
          createdAt: Number(r.created_at),
        })),
        page.limit,
      );
    },
  };

  return { clients, tokens, wallets, audit };
}
