/**
 * @module
 * GET /v1/treasury/wallets: the client's treasury wallets and balances; GET
 * /v1/treasury/wallets/{id}/entries: a treasury wallet's ledger entries, newest first,
 * cursor-paged. Another client's wallet (or a user's) is 404 not_found.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { formatAmount } from "../../../src/core/money.js";
import { ClientTreasury } from "../../../src/core/treasury.js";
import { authenticateBasicClient } from "../../../src/http/client-auth.js";
import type { AppEnv } from "../../../src/http/env.js";
import type { Wallet } from "../../../src/ports/ledger.js";
import type { LedgerEntry } from "../../../src/ports/wallet-admin.js";
import { batchSecurity, jsonOf, v1Errors } from "../batches/schemas.js";

const tags = ["Treasury"];
const iso = (ms: number) => new Date(ms).toISOString();

export const TreasuryWallet = z
  .object({
    id: z.string().describe("The wallet id (wal_…): payouts from this client in its currency are paid from it"),
    object: z.literal("treasury_wallet"),
    currency: z.string(),
    balance: z.string().describe('Decimal string, e.g. "1000000.00"'),
    status: z.enum(["active", "frozen"]).describe("A frozen wallet can neither send nor receive"),
    created_at: z.string().describe("ISO 8601"),
  })
  .openapi("TreasuryWallet");

export const TreasuryWalletList = z.object({ object: z.literal("list"), data: z.array(TreasuryWallet) }).openapi("TreasuryWalletList");

export const TreasuryEntry = z
  .object({
    id: z.string().describe("The entry id (ent_…), increasing in the order entries were written"),
    amount: z.string().describe('Signed decimal string: negative left the wallet, e.g. "-25.00"'),
    kind: z.string().describe("funding, payment, reversal, payout, payout_refund, payout_cancel"),
    ref_id: z.string().describe("The funding, payment (transfer) or payout it belongs to"),
    created_at: z.string().describe("ISO 8601"),
  })
  .openapi("TreasuryEntry");

export const TreasuryEntryList = z
  .object({
    object: z.literal("list"),
    data: z.array(TreasuryEntry),
    has_more: z.boolean(),
    next_cursor: z.string().nullable().describe("Pass as starting_after for the next page; null on the last"),
  })
  .openapi("TreasuryEntryList");

const EntriesQuery = z.object({
  limit: z
    .string()
    .regex(/^(?:[1-9]\d?|100)$/, "must be a whole number from 1 to 100")
    .optional()
    .openapi({ param: { name: "limit", in: "query" }, description: "1 to 100, default 20" }),
  starting_after: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .openapi({ param: { name: "starting_after", in: "query" }, description: "The next_cursor of the previous page (an entry id of this wallet)" }),
});

const WalletIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_-]+$/, "must be a wallet id such as wal_…")
    .openapi({ param: { name: "id", in: "path" }, example: "wal_01JD3X9Q2M5N8P4R7T6V1W0Y2Z" }),
});

function walletView(w: Wallet) {
  return { id: w.walletId, object: "treasury_wallet" as const, currency: w.currency, balance: formatAmount(w.balance, w.currency), status: w.status ?? "active", created_at: iso(w.createdAt) };
}

function entryView(e: LedgerEntry, currency: string) {
  return { id: e.entryId, amount: formatAmount(e.amount, currency), kind: e.kind, ref_id: e.refId, created_at: iso(e.createdAt) };
}

const listRoute = createRoute({
  method: "get",
  path: "/v1/treasury/wallets",
  tags,
  summary: "The client's treasury wallets and balances, oldest first",
  description: "One wallet per currency, opened and funded by the operator (admin API). Payout items are paid from the wallet in their currency.",
  security: batchSecurity,
  responses: { 200: jsonOf(TreasuryWalletList, "The client's treasury wallets"), ...v1Errors([401, 503]) },
});

const entriesRoute = createRoute({
  method: "get",
  path: "/v1/treasury/wallets/{id}/entries",
  tags,
  summary: "A treasury wallet's ledger entries, newest first",
  description: "Page with `starting_after` = `next_cursor` of the previous page while `has_more` is true. Another client's wallet is 404.",
  security: batchSecurity,
  request: { params: WalletIdParam, query: EntriesQuery },
  responses: { 200: jsonOf(TreasuryEntryList, "A page of entries"), ...v1Errors([400, 401, 404, 503]) },
});

export function registerTreasuryWallets<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(listRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const wallets = await new ClientTreasury(c.get("services").store).wallets(client.clientId);
      return c.json({ object: "list" as const, data: wallets.map(walletView) }, 200);
    })
    .openapi(entriesRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const q = c.req.valid("query");
      const { wallet, page } = await new ClientTreasury(c.get("services").store).entries(client.clientId, c.req.valid("param").id, {
        limit: q.limit === undefined ? 20 : Number(q.limit),
        startingAfter: q.starting_after,
      });
      const data = page.data.map((e) => entryView(e, wallet.currency));
      return c.json({ object: "list" as const, data, has_more: page.hasMore, next_cursor: page.hasMore && data.length ? data[data.length - 1].id : null }, 200);
    });
}
