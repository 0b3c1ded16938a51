/**
 * @module
 * What the /v1/batches routes share: the request and response shapes (described to OpenAPI and
 * checked at run time), the v1 error responses, and the API client's HTTP Basic authentication.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ZodType } from "zod";
import { parseBasicAuth } from "../../../src/core/auth.js";
import { BatchItemInputSchemas, customerIdParam } from "../../../src/core/batch-item-input.js";
import { describeZodError } from "../../../src/core/engine.js";
import { ERROR_CATALOG, GatewayError } from "../../../src/core/errors.js";
import { readJsonObject } from "../../../src/http/body.js";
import type { AppEnv } from "../../../src/http/env.js";
import type { ClientRecord } from "../../../src/ports/credentials.js";
import { BATCH_STATUSES, ITEM_STATUSES } from "../../../src/ports/batches.js";
import { describedJsonBody, V1Error } from "../../schemas.js";

const Metadata = z.record(z.string(), z.unknown()).describe("Your own key/value context, echoed back");

/**
 * An item: a call item or a payout item (src/core/batch-item-input.ts). The document shows both
 * shapes; the service checks each item itself, so a bad one is `422 invalid_batch_item` naming its
 * index (and field), not a body error.
 */
export const BatchItemInput = z
  .union(BatchItemInputSchemas)
  .describe('A call item (type omitted or "call") or a payout item (type "payout"); checked item by item: 422 invalid_batch_item with details.index');

const itemsOf = <T extends ZodType>(item: T) => z.array(item);

const createFields = <T extends ZodType>(items: z.ZodArray<T>) => ({
  label: z.string().min(1).max(255).optional(),
  metadata: Metadata.optional(),
  idempotency_key: z.string().min(1).max(255).optional().describe("The same key returns the existing batch (200)"),
  customer_batch_id: customerIdParam("Your id for the batch, echoed on the batch, its results and events; not unique; generated (cbt_…) when omitted").optional(),
  items: items.optional().describe("Items to add at once (up to ASYNC_BATCH_MAX_ITEMS, 5,000 by default)"),
  process: z.boolean().optional().describe("Submit for processing at once (202)"),
});

/** As documented. */
export const CreateBatchBody = z.strictObject(createFields(itemsOf(BatchItemInput))).openapi("CreateBatchRequest");
export const AddItemsBody = z.strictObject({ items: itemsOf(BatchItemInput).min(1) }).openapi("AddBatchItemsRequest");

/** As the routes read them: the envelope here, each item by the service. */
export const CreateBatchEnvelope = z.strictObject(createFields(itemsOf(z.unknown())));
export const AddItemsEnvelope = z.strictObject({ items: itemsOf(z.unknown()).min(1) });

export const RetryBody = z
  .strictObject({ items: z.array(z.number().int().min(0)).min(1).max(100_000).optional().describe("Item indexes to retry; all failed items when omitted") })
  .openapi("RetryBatchRequest");

export const Batch = z
  .object({
    id: z.string(),
    object: z.literal("batch"),
    status: z.enum(BATCH_STATUSES),
    label: z.string().nullable(),
    idempotency_key: z.string().nullable(),
    customer_batch_id: z.string().nullable().describe("Given at creation, or generated (cbt_…)"),
    metadata: z.unknown().nullable(),
    total_count: z.number().int(),
    succeeded_count: z.number().int(),
    failed_count: z.number().int(),
    cancelled_count: z.number().int(),
    pending_count: z.number().int(),
    percent_done: z.number().describe("Items in a final state, in percent (two decimals)"),
    submitted_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    expires_at: z.string().nullable().describe("While building: when the batch expires"),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Batch");

export const BatchList = z.object({ object: z.literal("list"), data: z.array(Batch), has_more: z.boolean() }).openapi("BatchList");

const Attempt = z.object({ attempt: z.number().int(), status: z.enum(["succeeded", "failed"]), http_status: z.number().int(), response: z.unknown(), finished_at: z.string().nullable() });

export const BatchItemResult = z
  .object({
    index: z.number().int(),
    type: z.enum(["call", "payout"]),
    customer_batch_id: z.string().nullable().optional().describe("Payout items: the batch's customer_batch_id"),
    customer_transaction_id: z.string().optional().describe("Payout items"),
    user_id: z.string().optional().describe("Payout items: the recipient"),
    amount: z.string().optional().describe("Payout items: decimal string"),
    currency: z.string().optional().describe("Payout items"),
    rail: z.string().optional().describe("Payout items"),
    reference_id: z.string().nullable(),
    idempotency_key: z.string().nullable(),
    call: z.string(),
    status: z.enum(ITEM_STATUSES),
    attempt: z.number().int(),
    http_status: z.number().int().nullable(),
    response: z
      .unknown()
      .describe(
        "The last attempt's: a call item's response or classic error body; a payout item's {outcome, error_code, error_message, wallet_id, transfer_id, payout_id, payout_status, customer_transaction_id}",
      ),
    attempts: z.array(Attempt).describe("Every finished attempt, oldest first"),
    updated_at: z.string().nullable(),
    request: z.object({ call: z.string(), reference_id: z.string().nullable(), idempotency_key: z.string().nullable(), parameters: z.unknown() }).optional().describe("With include_request=true (never the token)"),
    metadata: z.unknown().optional().describe("With include_request=true"),
  })
  .openapi("BatchItemResult");

export const BatchResults = z.object({ object: z.literal("list"), data: z.array(BatchItemResult), has_more: z.boolean() }).openapi("BatchResults");

export const RetryResult = z
  .object({
    batch: Batch,
    retried_count: z.number().int(),
    items: z
      .array(z.object({ index: z.number().int(), reference_id: z.string().nullable(), outcome: z.string().describe("RETRYING, ALREADY_COMPLETED, PENDING or CANCELLED"), attempt: z.number().int() }))
      .describe("For the indexes asked for"),
  })
  .openapi("BatchRetryResult");

export const BatchIdParam = z.object({ id: z.string().min(1).max(64).openapi({ param: { name: "id", in: "path" }, example: "batch_01JD3X9Q2M5N8P4R7T6V1W0Y2Z" }) });

export const batchSecurity: Record<string, string[]>[] = [{ basicAuth: [] }];

/** v1 error responses for a route, by status. */
export function v1Errors(statuses: number[]) {
  const out: Record<number, { description: string; content: { "application/json": { schema: typeof V1Error } } }> = {};
  for (const status of statuses) {
    const codes = Object.entries(ERROR_CATALOG).filter(([, e]) => e.status === status).map(([c]) => `\`${c}\``);
    out[status] = { description: codes.join(", ") || "Error", content: { "application/json": { schema: V1Error } } };
  }
  return out;
}

export const jsonOf = <T extends ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

export { describedJsonBody };

/** The API client, from HTTP Basic only; an unknown or wrong one is 401 invalid_client. */
export async function batchClient(c: Context<AppEnv>): Promise<ClientRecord> {
  const basic = parseBasicAuth(c.req.header("authorization"));
  const challenge = { "WWW-Authenticate": 'Basic realm="batchgate"' };
  if (!basic) throw new GatewayError("invalid_client", "API client credentials are required as HTTP Basic (client id : client secret).", challenge);
  const id = /^\d{1,15}$/.test(basic.clientId) ? Number(basic.clientId) : NaN;
  if (!Number.isSafeInteger(id) || basic.secret.length === 0 || basic.secret.length > 255) throw new GatewayError("invalid_client", undefined, challenge);
  const client = await c.get("services").auth.verifyClient(id, basic.secret);
  c.set("clientId", client.clientId);
  return client;
}

/** The JSON body checked against `schema`; a failure names the first bad field. */
export async function bodyOf<T extends ZodType>(c: Context<AppEnv>, schema: T, allowEmpty = false): Promise<z.output<T>> {
  const raw = await readJsonObject(c, { allowEmpty });
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError("invalid_body", describeZodError(parsed.error, "body"), undefined, { field: ["body", ...(issue?.path ?? []).map(String)].join(".") });
  }
  return parsed.data;
}
