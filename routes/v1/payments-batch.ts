/**
 * @module
 * POST /v1/payments/batch and GET /v1/payments/batch/{batchId}: atomic payment batches (DESIGN
 * §1.3). Up to 20 payments from wallets the caller owns; all stand (200) or every one that had
 * succeeded is reversed (207 BATCH_PARTIAL_FAILURE). The saga and its journal are in
 * src/core/payment-batch-runner.ts.
 *
 * Order: parse the body → authenticate the Bearer token (payments:write) → validate every item,
 * wallets included (400 naming the index and the field; nothing runs) → claim the
 * Idempotency-Key (or replay) → run.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Schema } from "hono/types";
import { parseBearer } from "../../src/core/auth.js";
import type { Principal } from "../../src/core/call-contract.js";
import { effectRef } from "../../src/core/effect-ref.js";
import { ERROR_CATALOG, GatewayError } from "../../src/core/errors.js";
import { IDEMPOTENCY_KEY } from "../../src/core/idempotency.js";
import { newId } from "../../src/core/ids.js";
import { parseAmount } from "../../src/core/money.js";
import { batchOutcome, ITEM_ERROR_CODES, type JournalItem, MAX_BATCH_PAYMENTS, PARTIAL_FAILURE_MESSAGE, type PaymentBatchJournal } from "../../src/core/payment-batch.js";
import { readJsonObject } from "../../src/http/body.js";
import type { AppEnv } from "../../src/http/env.js";
import { idempotencyKeyOf, withIdempotency } from "../../src/http/idempotency.js";
import { describedJsonBody, idempotencyKeyParameter, V1Error } from "../schemas.js";

const walletId = z.string().min(1).max(64).regex(/^wal_[A-Za-z0-9]+$/, "must be a wallet id (wal_...)");

export const BatchPayment = z.strictObject({
  from: walletId.describe("Source wallet id; the caller must own it"),
  to: walletId.describe("Destination wallet id, in the same currency"),
  amount: z.string().max(32).describe('Decimal string in the wallets\' currency, e.g. "100.00"; positive, at most the currency\'s decimals'),
  description: z.string().max(1024).optional().describe("At most 1,024 characters"),
  idempotencyKey: z
    .string()
    .regex(IDEMPOTENCY_KEY, "must be 1 to 255 visible ASCII characters")
    .optional()
    .describe("Makes this payment exactly-once across batches: an item whose key already names a payment that stands replays it (its transactionId, `replayed: true`) and moves no money. Unique within the batch."),
});

export const PaymentsBatchRequest = z.strictObject({
  payments: z.array(BatchPayment).min(1).max(MAX_BATCH_PAYMENTS).describe("1 to 20 payments, run in order"),
});

const itemErrorCode = z.enum(Object.keys(ITEM_ERROR_CODES) as [string, ...string[]]).openapi("PaymentBatchItemError", {
  description: Object.entries(ITEM_ERROR_CODES)
    .map(([code, text]) => `- \`${code}\`: ${text}`)
    .join("\n"),
});

const ResultItem = z
  .object({
    index: z.number().int(),
    status: z.enum(["success", "reversed", "failed", "pending"]).describe("`pending` only while a batch is still running (GET)"),
    transactionId: z.string().optional().describe("The payment's id (readable with /payment/find)"),
    reversalId: z.string().optional().describe("The reversal's id (`rev_...`) of a reversed payment"),
    error: itemErrorCode.optional().describe("Why a failed item failed"),
    manualActionRequired: z.literal(true).optional().describe("The batch failed but this payment's reversal failed too: it stands and needs an operator"),
    reversalError: itemErrorCode.optional().describe("Why the reversal failed, with manualActionRequired"),
    replayed: z.literal(true).optional().describe("The item's idempotencyKey named an earlier payment: replayed, no money moved, never reversed by this batch"),
  })
  .openapi("PaymentBatchResult");

export const PaymentsBatchSucceeded = z
  .object({
    batchId: z.string(),
    results: z.array(ResultItem),
    summary: z.object({ total: z.number().int(), succeeded: z.number().int(), failed: z.literal(0) }),
  })
  .openapi("PaymentsBatchSucceeded");

export const PaymentsBatchPartialFailure = z
  .object({
    batchId: z.string(),
    error: z.object({ code: z.literal("BATCH_PARTIAL_FAILURE"), message: z.string().describe(PARTIAL_FAILURE_MESSAGE) }),
    results: z.array(ResultItem),
    summary: z.object({ total: z.number().int(), succeeded: z.number().int(), reversed: z.number().int(), failed: z.number().int() }),
  })
  .openapi("PaymentsBatchPartialFailure");

const StoredBatch = z
  .union([PaymentsBatchSucceeded, PaymentsBatchPartialFailure])
  .and(
    z.object({
      state: z.enum(["running", "succeeded", "rolled_back"]).describe("running: not finished yet (its results so far)"),
      recovered: z.boolean().describe("True when the gateway finished the batch after its first runner stopped (a crash)"),
    }),
  )
  .openapi("PaymentsBatch");

/** v1 error responses by status. */
function v1Errors(statuses: number[]) {
  const out: Record<number, { description: string; content: { "application/json": { schema: typeof V1Error } } }> = {};
  for (const status of statuses) {
    const codes = Object.entries(ERROR_CATALOG).filter(([, e]) => e.status === status).map(([c]) => `\`${c}\``);
    out[status] = { description: codes.join(", ") || "Error", content: { "application/json": { schema: V1Error } } };
  }
  return out;
}

const postRoute = createRoute({
  method: "post",
  path: "/v1/payments/batch",
  tags: ["Payments"],
  summary: "Send up to 20 payments atomically",
  description:
    "Needs a Bearer token with `payments:write` that owns every `from` wallet. Every item is validated before anything runs (400 naming `details.index` and `details.field`). Payments run in order; if any fails, every payment that had succeeded is reversed and the answer is 207. The batch is journaled: a gateway that stops mid-batch finishes the rollback when it (or another instance) is back.",
  security: [{ bearerAuth: [] }],
  parameters: [idempotencyKeyParameter],
  request: { body: { ...describedJsonBody(PaymentsBatchRequest), required: true } },
  responses: {
    200: { description: "Every payment succeeded", content: { "application/json": { schema: PaymentsBatchSucceeded } } },
    207: { description: "A payment failed: the others were reversed (or are flagged manualActionRequired)", content: { "application/json": { schema: PaymentsBatchPartialFailure } } },
    ...v1Errors([400, 401, 403, 409, 413, 415, 422, 503]),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/payments/batch/{batchId}",
  tags: ["Payments"],
  summary: "Read an atomic payment batch's outcome",
  description: "Only the batch's owner may read it; anyone else gets 404 `not_found`. Needs `payments:read` or `payments:write`.",
  security: [{ bearerAuth: [] }],
  request: { params: z.object({ batchId: z.string().min(1).max(64) }) },
  responses: {
    200: { description: "The batch's stored outcome", content: { "application/json": { schema: StoredBatch } } },
    ...v1Errors([401, 403, 404, 503]),
  },
});

export function registerPaymentsBatch<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app.openapi(postRoute, (c) => postBatch(c) as Promise<never>).openapi(getRoute, (c) => getBatch(c) as Promise<never>);
}

/** The caller of a /v1 payments route, with one of `scopes`. */
async function principalOf(c: Context<AppEnv>, scopes: string[]): Promise<Principal> {
  const header = c.req.header("authorization");
  const token = parseBearer(header);
  if (!header) throw new GatewayError("missing_authorization", "Authorization: Bearer <access token> is required.");
  if (!token) throw new GatewayError("invalid_token", "Authorization must be a Bearer access token.");
  const { auth } = c.get("services");
  const principal = await auth.principalFor(await auth.hash(token));
  if (!scopes.some((s) => principal.scopes.has(s))) throw new GatewayError("insufficient_scope", `This endpoint needs the ${scopes.join(" or ")} scope.`);
  return principal;
}

function invalid(index: number | null, field: string, message: string): GatewayError {
  const where = index === null ? field : `payments[${index}].${field}`;
  return new GatewayError("invalid_parameters", `${where}: ${message}`, undefined, index === null ? { field: where } : { index, field: where });
}

/** Every check that needs no money to move; throws 400 naming the item and field. */
async function validate(c: Context<AppEnv>, body: Record<string, unknown>, userId: string) {
  const payments = body.payments;
  if (Array.isArray(payments) && payments.length > MAX_BATCH_PAYMENTS) {
    throw invalid(null, "payments", `at most ${MAX_BATCH_PAYMENTS} payments per batch; got ${payments.length}.`);
  }
  const parsed = PaymentsBatchRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const [top, index, ...rest] = issue.path.map(String);
    if (top === "payments" && index !== undefined && /^\d+$/.test(index)) {
      const field = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : rest.join(".") || "item";
      throw invalid(Number(index), field, issue.code === "unrecognized_keys" ? "unknown field" : issue.message);
    }
    throw invalid(null, issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join(".") || "body", issue.code === "unrecognized_keys" ? "unknown field" : issue.message);
  }
  const items = parsed.data.payments;
  const keys = new Map<string, number>();
  items.forEach((p, i) => {
    if (p.from === p.to) throw invalid(i, "to", "must differ from `from`.");
    if (p.idempotencyKey !== undefined) {
      const first = keys.get(p.idempotencyKey);
      if (first !== undefined) {
        throw new GatewayError("duplicate_idempotency_key", `payments[${i}].idempotencyKey repeats payments[${first}].idempotencyKey.`, undefined, { index: i, field: `payments[${i}].idempotencyKey` });
      }
      keys.set(p.idempotencyKey, i);
    }
  });
  const { ledger } = c.get("services").store;
  const ids = [...new Set(items.flatMap((p) => [p.from, p.to]))];
  const wallets = new Map((await Promise.all(ids.map((id) => ledger.getWallet(id)))).flatMap((w) => (w ? [[w.walletId, w] as const] : [])));
  return items.map((p, i) => {
    const from = wallets.get(p.from);
    // Someone else's wallet is as unknown as a missing one.
    if (!from || from.userId !== userId) throw invalid(i, "from", "no such wallet of yours.");
    const to = wallets.get(p.to);
    if (!to) throw invalid(i, "to", "no such wallet.");
    if (to.currency !== from.currency) throw invalid(i, "to", `is in ${to.currency}, but ${p.from} is in ${from.currency}; one payment has one currency.`);
    const amount = parseAmount(p.amount, from.currency);
    if (!amount.ok) throw invalid(i, "amount", amount.reason);
    return { ...p, minor: amount.minor, currency: from.currency };
  });
}

async function postBatch(c: Context<AppEnv>): Promise<Response> {
  const body = await readJsonObject(c, { allowEmpty: false });
  const principal = await principalOf(c, ["payments:write"]);
  const items = await validate(c, body, principal.userId);
  const key = idempotencyKeyOf(c);
  const { paymentBatches, auth } = c.get("services");
  const scope = `user:${principal.userId}`;
  c.set("calls", items.length);

  return withIdempotency(c, key, {
    scope,
    fingerprintOf: [body],
    execute: async (ref) => {
      const now = Date.now();
      const batchId = ref ? `bat_${ref.slice(0, 26)}` : newId("bat", now);
      const journalItems: JournalItem[] = await Promise.all(
        items.map(async (p, index) => ({
          index,
          from: p.from,
          to: p.to,
          amount: p.minor,
          currency: p.currency,
          description: p.description ?? null,
          idempotencyKey: p.idempotencyKey ?? null,
          paymentId: `pay_${(await effectRef((t) => auth.hash(t), { batchRef: batchId, index })).slice(0, 26)}`,
          replayOf: null,
          state: "pending" as const,
          error: null,
          reversalError: null,
        })),
      );
      const intent: PaymentBatchJournal = { batchId, userId: principal.userId, keyScope: scope, status: "running", recovered: false, createdAt: now, updatedAt: now, items: journalItems };
      const done = await paymentBatches.run(intent);
      const { status, body: answer } = batchOutcome(done);
      return { status, body: answer, executed: true };
    },
  });
}

async function getBatch(c: Context<AppEnv>): Promise<Response> {
  const principal = await principalOf(c, ["payments:read", "payments:write"]);
  const batchId = c.req.param("batchId") ?? "";
  const j = await c.get("services").store.paymentBatches.getBatch(batchId);
  if (!j || j.userId !== principal.userId) throw new GatewayError("not_found", "No such payment batch.", undefined, { field: "batchId" });
  const { body } = batchOutcome(j);
  return c.json({ ...body, state: j.status, recovered: j.recovered }, 200);
}
