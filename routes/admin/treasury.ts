/**
 * @module
 * POST and GET /admin/v1/clients/{client_id}/treasury-wallets: a client's treasury (wallets held
 * by its `cli_<client_id>` holder, one per currency, funded from system:funding once per
 * funding_id); PUT /admin/v1/users/{user_id}/destinations/{rail} and GET
 * /admin/v1/users/{user_id}/destinations: users' default payout destinations, one per rail,
 * validated by the rail's destination shape (PAYOUT_DESTINATIONS).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { ZodType } from "zod";
import { describeZodError } from "../../src/core/engine.js";
import { GatewayError } from "../../src/core/errors.js";
import { formatAmount } from "../../src/core/money.js";
import { PAYOUT_DESTINATIONS } from "../../src/handlers/payouts.js";
import { readJsonObject } from "../../src/http/body.js";
import type { AppEnv } from "../../src/http/env.js";
import type { Wallet } from "../../src/ports/ledger.js";
import type { DefaultDestination } from "../../src/ports/treasury.js";
import { describedJsonBody } from "../schemas.js";
import { actorOf, adminErrors, AdminWallet, body, ClientIdParam, json, SECURITY, TAG, UserIdParam, walletView } from "./schemas.js";
import { type FundResult, refuseTreasuryHolder } from "../../src/core/admin.js";

const RAILS = Object.keys(PAYOUT_DESTINATIONS) as (keyof typeof PAYOUT_DESTINATIONS)[];
const iso = (ms: number) => new Date(ms).toISOString();

export const OpenTreasuryWalletBody = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD"),
  funding: z
    .strictObject({
      amount: z.string().max(32).describe('A positive decimal string in the currency, e.g. "1000000.00"'),
      funding_id: z
        .string()
        .regex(/^[A-Za-z0-9._:-]{1,100}$/, "must be 1 to 100 characters of A-Z a-z 0-9 . _ : -")
        .describe("Names the funding: the same funding_id never credits twice (replayed: true)"),
      reason: z.string().trim().min(1).max(500).describe("Why (kept with the funding and in the audit log)"),
    })
    .optional()
    .describe("Credit the wallet from system:funding, once per funding_id, whether it is opened now or was before"),
});

export const AdminTreasuryWallet = AdminWallet.extend({ client_id: z.number().int() }).openapi("AdminTreasuryWallet");

export const AdminTreasuryWalletOpened = AdminTreasuryWallet.extend({
  funding: z
    .object({
      funding_id: z.string(),
      amount: z.string(),
      currency: z.string(),
      reason: z.string(),
      replayed: z.boolean().describe("True when this funding_id had funded before: nothing was credited now"),
    })
    .nullable()
    .describe("The funding the request asked for; null without one"),
}).openapi("AdminTreasuryWalletOpened");

export const AdminDestination = z
  .object({
    rail: z.enum(RAILS),
    destination: z.record(z.string(), z.string()).describe("The rail's destination object, as set"),
    updated_at: z.string().describe("ISO 8601"),
  })
  .openapi("AdminDestination");

const listOfAll = <T extends ZodType>(item: T, name: string) =>
  z
    .object({ object: z.literal("list"), data: z.array(item), has_more: z.literal(false), next_cursor: z.null().describe("Always null: the whole list is one page") })
    .openapi(name);

function treasuryView(clientId: number, w: Wallet) {
  return { ...walletView(w), client_id: clientId };
}

function fundingView(f: FundResult | null) {
  return f && { funding_id: f.funding.fundingId, amount: formatAmount(f.funding.amount, f.funding.currency), currency: f.funding.currency, reason: f.funding.reason, replayed: f.replayed };
}

function destinationView(d: DefaultDestination) {
  return { rail: d.rail as (typeof RAILS)[number], destination: d.destination, updated_at: iso(d.updatedAt) };
}

const RailParam = UserIdParam.extend({
  rail: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "rail", in: "path" }, example: "ach", description: `One of ${RAILS.join(", ")} (another is 422 invalid_destination)` }),
});

const open = createRoute({
  method: "post",
  path: "/admin/v1/clients/{client_id}/treasury-wallets",
  tags: [TAG],
  summary: "Open a client's treasury wallet in a currency (one per currency), optionally funding it",
  description:
    "201 with the new wallet; 200 with the same wallet when the client already has one in that currency (the funding, when given, still applies once per funding_id). Funding later goes through POST /admin/v1/wallets/{wallet_id}/fund.",
  security: SECURITY,
  request: { params: ClientIdParam, body: body(OpenTreasuryWalletBody) },
  responses: {
    200: json(AdminTreasuryWalletOpened, "The client's existing wallet in that currency"),
    201: json(AdminTreasuryWalletOpened, "The wallet, opened now"),
    ...adminErrors([400, 409, 415, 422]),
  },
});

const list = createRoute({
  method: "get",
  path: "/admin/v1/clients/{client_id}/treasury-wallets",
  tags: [TAG],
  summary: "A client's treasury wallets, oldest first",
  security: SECURITY,
  request: { params: ClientIdParam },
  responses: { 200: json(listOfAll(AdminTreasuryWallet, "AdminTreasuryWalletList"), "The client's treasury wallets"), ...adminErrors([400]) },
});

const setDestination = createRoute({
  method: "put",
  path: "/admin/v1/users/{user_id}/destinations/{rail}",
  tags: [TAG],
  summary: "Set (replace) a user's default payout destination on a rail",
  description: "The body is the rail's destination object, as /payout/create takes it. A payout item without a destination uses it.",
  security: SECURITY,
  request: {
    params: RailParam,
    body: { ...describedJsonBody(z.union(RAILS.map((r) => PAYOUT_DESTINATIONS[r]) as never), "The rail's destination object"), required: true },
  },
  responses: { 200: json(AdminDestination, "The destination, as set"), ...adminErrors([400, 415, 422]) },
});

const listDestinations = createRoute({
  method: "get",
  path: "/admin/v1/users/{user_id}/destinations",
  tags: [TAG],
  summary: "A user's default payout destinations, by rail",
  security: SECURITY,
  request: { params: UserIdParam },
  responses: { 200: json(listOfAll(AdminDestination, "AdminDestinationList"), "The user's default destinations"), ...adminErrors([400]) },
});

/** The body as the rail's destination, or 422 invalid_destination naming the field. */
async function destinationOf(c: Parameters<typeof readJsonObject>[0], rail: string): Promise<Record<string, string>> {
  if (!Object.hasOwn(PAYOUT_DESTINATIONS, rail)) {
    throw new GatewayError("invalid_destination", `Unknown rail ${JSON.stringify(rail)}: one of ${RAILS.join(", ")}.`, undefined, { field: "param.rail" });
  }
  const raw = await readJsonObject(c, { allowEmpty: false });
  const parsed = PAYOUT_DESTINATIONS[rail as (typeof RAILS)[number]].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [...(issue?.path ?? []), ...(issue?.code === "unrecognized_keys" ? issue.keys.slice(0, 1) : [])];
    throw new GatewayError("invalid_destination", `Not a ${rail} destination: ${describeZodError(parsed.error, "body")}`, undefined, {
      field: ["body", ...path.map(String)].join("."),
    });
  }
  return parsed.data as Record<string, string>;
}

export function registerAdminTreasury<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(open, async (c) => {
      const clientId = Number(c.req.valid("param").client_id);
      const b = c.req.valid("json");
      const funding = b.funding && { amount: b.funding.amount, fundingId: b.funding.funding_id, reason: b.funding.reason };
      const r = await c.get("services").admin.openTreasuryWallet(clientId, b.currency, funding, actorOf(c));
      return c.json({ ...treasuryView(clientId, r.wallet), funding: fundingView(r.funding) }, r.opened ? 201 : 200);
    })
    .openapi(list, async (c) => {
      const clientId = Number(c.req.valid("param").client_id);
      const wallets = await c.get("services").admin.listTreasuryWallets(clientId);
      return c.json({ object: "list" as const, data: wallets.map((w) => treasuryView(clientId, w)), has_more: false as const, next_cursor: null }, 200);
    })
    .openapi(setDestination, async (c) => {
      const { user_id: userId, rail } = c.req.valid("param");
      const admin = c.get("services").admin;
      refuseTreasuryHolder(userId, "it is never a payout recipient");
      const destination = await destinationOf(c, rail);
      return c.json(destinationView(await admin.setDestination(userId, rail, destination, actorOf(c))), 200);
    })
    .openapi(listDestinations, async (c) => {
      const list = await c.get("services").admin.listDestinations(c.req.valid("param").user_id);
      return c.json({ object: "list" as const, data: list.map(destinationView), has_more: false as const, next_cursor: null }, 200);
    });
}
