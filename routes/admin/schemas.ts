/**
 * @module
 * What the admin API's routes share: the resources' response shapes (and the functions that
 * render records into them), list and cursor shapes, path parameters, the error responses, and
 * who is acting (for the audit log).
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AdminActor } from "../../src/core/admin.js";
import { tokenStatus } from "../../src/core/admin.js";
import { ERROR_CATALOG } from "../../src/core/errors.js";
import { formatAmount } from "../../src/core/money.js";
import type { AuditRecord } from "../../src/ports/audit.js";
import type { ClientRecord, TokenRecord } from "../../src/ports/credentials.js";
import type { User, Wallet } from "../../src/ports/ledger.js";
import type { Page } from "../../src/ports/paging.js";
import type { Funding, LedgerEntry } from "../../src/ports/wallet-admin.js";
import type { AppEnv } from "../../src/http/env.js";
import { V1Error } from "../schemas.js";

export const TAG = "Admin";
export const SECURITY = [{ adminKey: [] }];

const iso = (ms: number) => new Date(ms).toISOString();
const Timestamp = z.string().describe("ISO 8601");

/** Error responses for an admin route, by status (V1Error bodies). */
export function adminErrors(statuses: number[]) {
  const out: Record<number, { description: string; content: { "application/json": { schema: typeof V1Error } } }> = {};
  for (const status of [...new Set([401, 404, 503, ...statuses])].sort()) {
    const codes = Object.entries(ERROR_CATALOG).filter(([, e]) => e.status === status).map(([c]) => `\`${c}\``);
    out[status] = { description: codes.join(", ") || "Error", content: { "application/json": { schema: V1Error } } };
  }
  return out;
}

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
export const body = <T extends z.ZodType>(schema: T) => ({ required: true, content: { "application/json": { schema } } });

export function actorOf(c: Context<AppEnv>): AdminActor {
  return { actor: c.get("adminActor") ?? "admin", requestId: c.get("requestId") };
}

// Path parameters -------------------------------------------------------------------------------

export const ClientIdParam = z.object({
  client_id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/, "must be a numeric client id")
    .openapi({ param: { name: "client_id", in: "path" }, example: "100001" }),
});
const idParam = (name: string, prefix: string) =>
  z.object({
    [name]: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_-]+$/, `must be an id such as ${prefix}_…`)
      .openapi({ param: { name, in: "path" }, example: `${prefix}_01JD3…` }),
  });
export const UserIdParam = idParam("user_id", "usr") as z.ZodObject<{ user_id: z.ZodString }>;
export const TokenIdParam = idParam("token_id", "tok") as z.ZodObject<{ token_id: z.ZodString }>;
export const WalletIdParam = idParam("wallet_id", "wal") as z.ZodObject<{ wallet_id: z.ZodString }>;

export const ListQuery = z.object({
  limit: z
    .string()
    .regex(/^(?:[1-9]\d?|100)$/, "must be a whole number from 1 to 100")
    .optional()
    .openapi({ param: { name: "limit", in: "query" }, description: "1 to 100, default 20" }),
  starting_after: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .openapi({ param: { name: "starting_after", in: "query" }, description: "The id of the last item of the previous page" }),
});

export function pageRequest(q: z.infer<typeof ListQuery>) {
  return { limit: q.limit === undefined ? 20 : Number(q.limit), startingAfter: q.starting_after };
}

export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      object: z.literal("list"),
      data: z.array(item),
      has_more: z.boolean(),
      next_cursor: z.string().nullable().describe("Pass as starting_after for the next page; null on the last"),
    })
    .openapi(name);
}

export function renderList<T, V>(page: Page<T>, view: (t: T) => V, idOf: (v: V) => string) {
  const data = page.data.map(view);
  return { object: "list" as const, data, has_more: page.hasMore, next_cursor: page.hasMore && data.length ? idOf(data[data.length - 1]) : null };
}

// Resources -------------------------------------------------------------------------------------

export const AdminClient = z
  .object({ client_id: z.number().int(), name: z.string(), status: z.enum(["active", "disabled"]), created_at: Timestamp })
  .openapi("AdminClient");
export const AdminClientWithSecret = AdminClient.extend({ client_secret: z.string().describe("Shown once: only its hash is kept") }).openapi("AdminClientWithSecret");

export function clientView(c: ClientRecord) {
  return { client_id: c.clientId, name: c.name, status: c.status ?? "active", created_at: iso(c.createdAt) };
}

export const AdminUser = z
  .object({ user_id: z.string(), email: z.string(), first_name: z.string(), last_name: z.string(), created_at: Timestamp })
  .openapi("AdminUser");

export function userView(u: User) {
  return { user_id: u.userId, email: u.email, first_name: u.firstName, last_name: u.lastName, created_at: iso(u.createdAt) };
}

export const AdminToken = z
  .object({
    token_id: z.string(),
    user_id: z.string(),
    scopes: z.array(z.string()),
    status: z.enum(["active", "revoked", "expired"]),
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .openapi("AdminToken");
export const AdminTokenWithSecret = AdminToken.extend({ access_token: z.string().describe("Shown once: only its hash is kept") }).openapi("AdminTokenWithSecret");

export function tokenView(t: TokenRecord, now: number) {
  return {
    token_id: t.tokenId ?? "",
    user_id: t.userId,
    scopes: t.scopes,
    status: tokenStatus(t, now),
    expires_at: t.expiresAt === null ? null : iso(t.expiresAt),
    revoked_at: t.revokedAt === null || t.revokedAt === undefined ? null : iso(t.revokedAt),
    created_at: iso(t.createdAt),
  };
}

export const AdminWallet = z
  .object({ wallet_id: z.string(), user_id: z.string(), currency: z.string(), balance: z.string(), frozen: z.boolean(), created_at: Timestamp })
  .openapi("AdminWallet");

export function walletView(w: Wallet) {
  return { wallet_id: w.walletId, user_id: w.userId, currency: w.currency, balance: formatAmount(w.balance, w.currency), frozen: w.status === "frozen", created_at: iso(w.createdAt) };
}

export const AdminFunding = z
  .object({
    funding_id: z.string(),
    wallet: AdminWallet,
    amount: z.string(),
    currency: z.string(),
    reason: z.string(),
    replayed: z.boolean().describe("True when this idempotency_key had funded before: nothing was credited now"),
  })
  .openapi("AdminFunding");

export function fundingView(f: Funding, w: Wallet, replayed: boolean) {
  return { funding_id: f.fundingId, wallet: walletView(w), amount: formatAmount(f.amount, f.currency), currency: f.currency, reason: f.reason, replayed };
}

export const AdminLedgerEntry = z
  .object({
    entry_id: z.string(),
    wallet_id: z.string(),
    amount: z.string().describe("Signed: negative left the wallet"),
    currency: z.string(),
    kind: z.string().describe("funding, payment, reversal, payout, payout_refund, payout_cancel"),
    ref_id: z.string().describe("The funding, payment or payout it belongs to"),
    created_at: Timestamp,
  })
  .openapi("AdminLedgerEntry");

export function entryView(e: LedgerEntry, currency: string) {
  return { entry_id: e.entryId, wallet_id: e.account, amount: formatAmount(e.amount, currency), currency, kind: e.kind, ref_id: e.refId, created_at: iso(e.createdAt) };
}

export const AdminAuditRecord = z
  .object({
    audit_id: z.string(),
    actor: z.string().describe("The admin key's fingerprint (key:<12 hex>), or seed"),
    action: z.string(),
    target: z.string(),
    request_id: z.string(),
    created_at: Timestamp,
    details: z.record(z.string(), z.unknown()),
  })
  .openapi("AdminAuditRecord");

export function auditView(a: AuditRecord) {
  return { audit_id: a.auditId, actor: a.actor, action: a.action, target: a.target, request_id: a.requestId, created_at: iso(a.createdAt), details: a.details };
}
