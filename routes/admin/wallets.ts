/**
 * @module
 * POST /admin/v1/users/{user_id}/wallets, POST /admin/v1/wallets/{wallet_id}/fund,
 * POST /admin/v1/wallets/{wallet_id}/freeze and /unfreeze, GET /admin/v1/wallets/{wallet_id}/entries.
 * Funding moves money from system:funding, once per idempotency_key; a frozen wallet neither
 * sends nor receives (wallet_frozen), funding included.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";
import {
  actorOf,
  adminErrors,
  AdminFunding,
  AdminLedgerEntry,
  AdminWallet,
  body,
  entryView,
  fundingView,
  json,
  ListQuery,
  listOf,
  pageRequest,
  renderList,
  SECURITY,
  TAG,
  UserIdParam,
  WalletIdParam,
  walletView,
} from "./schemas.js";

export const OpenWalletBody = z.strictObject({ currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD") });
export const FundWalletBody = z.strictObject({
  amount: z.string().max(32).describe('A positive decimal string in the wallet\'s currency, e.g. "100.00"'),
  reason: z.string().trim().min(1).max(500).describe("Why (kept with the funding and in the audit log)"),
  idempotency_key: z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 visible ASCII characters")
    .describe("The same key never funds twice: a retry answers the first funding with replayed: true"),
});

const open = createRoute({
  method: "post",
  path: "/admin/v1/users/{user_id}/wallets",
  tags: [TAG],
  summary: "Open a wallet for a user in a currency (balance 0.00)",
  security: SECURITY,
  request: { params: UserIdParam, body: body(OpenWalletBody) },
  responses: { 201: json(AdminWallet, "The wallet"), ...adminErrors([400, 415]) },
});

const fund = createRoute({
  method: "post",
  path: "/admin/v1/wallets/{wallet_id}/fund",
  tags: [TAG],
  summary: "Credit a wallet from system:funding, exactly once per idempotency_key",
  security: SECURITY,
  request: { params: WalletIdParam, body: body(FundWalletBody) },
  responses: { 200: json(AdminFunding, "The funding (replayed: true when the key had funded before)"), ...adminErrors([400, 409, 415, 422]) },
});

const freezeRoute = (frozen: boolean) =>
  createRoute({
    method: "post",
    path: `/admin/v1/wallets/{wallet_id}/${frozen ? "freeze" : "unfreeze"}`,
    tags: [TAG],
    summary: frozen ? "Freeze a wallet: it can neither send nor receive (wallet_frozen)" : "Unfreeze a wallet",
    security: SECURITY,
    request: { params: WalletIdParam },
    responses: { 200: json(AdminWallet, "The wallet"), ...adminErrors([400]) },
  });

const entries = createRoute({
  method: "get",
  path: "/admin/v1/wallets/{wallet_id}/entries",
  tags: [TAG],
  summary: "A wallet's ledger entries, newest first",
  security: SECURITY,
  request: { params: WalletIdParam, query: ListQuery },
  responses: { 200: json(listOf(AdminLedgerEntry, "AdminLedgerEntryList"), "A page of entries"), ...adminErrors([400]) },
});

export function registerAdminWallets<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(open, async (c) => {
      const wallet = await c.get("services").admin.openWallet(c.req.valid("param").user_id, c.req.valid("json").currency, actorOf(c));
      return c.json(walletView(wallet), 201);
    })
    .openapi(fund, async (c) => {
      const b = c.req.valid("json");
      const r = await c.get("services").admin.fundWallet(c.req.valid("param").wallet_id, { amount: b.amount, reason: b.reason, idempotencyKey: b.idempotency_key }, actorOf(c));
      return c.json(fundingView(r.funding, r.wallet, r.replayed), 200);
    })
    .openapi(freezeRoute(true), async (c) => c.json(walletView(await c.get("services").admin.setFrozen(c.req.valid("param").wallet_id, true, actorOf(c))), 200))
    .openapi(freezeRoute(false), async (c) => c.json(walletView(await c.get("services").admin.setFrozen(c.req.valid("param").wallet_id, false, actorOf(c))), 200))
    .openapi(entries, async (c) => {
      const { wallet, page } = await c.get("services").admin.listEntries(c.req.valid("param").wallet_id, pageRequest(c.req.valid("query")));
      return c.json(renderList(page, (e) => entryView(e, wallet.currency), (v) => v.entry_id), 200);
    });
}
