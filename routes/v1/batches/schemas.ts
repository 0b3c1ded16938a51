/**
 * @module
 * What the /v1/batches routes share: the request and response shapes (described to OpenAPI and
 * checked at run time), the v1 error responses, and the API client's HTTP Basic authentication.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ZodType } from "zod";
import { parseBasicAuth } from "../../../src/core/auth.js";
import { describeZodError } from "../../../src/core/engine.js";
import { ERROR_CATALOG, GatewayError } from "../../../src/core/errors.js";
import { readJsonObject } from "../../../src/http/body.js";
import type { AppEnv } from "../../../src/http/env.js";
import type { ClientRecord } from "../../../src/ports/credentials.js";
import { BATCH_STATUSES, ITEM_STATUSES } from "../../../src/ports/batches.js";
import { describedJsonBody, V1Error } from "../../schemas.js";

const Metadata = z.record(z.string(), z.unknown()).describe("Your own key/value context, echoed back");

export const BatchItemInput = z
  .strictObject({
    call: z.string().min(1).max(255).describe("A registered call, e.g. /payment/create"),
    authorization: z.string().max(1024).optional().describe("The end user's access token: verified when the item is added; only its hash and principal are kept"),
    reference_id: z.string().min(1).max(255).optional().describe("Your id for the item, echoed in its result and events"),
    idempotency_key: z.string().min(1).max(255).optional().describe("Unique within the batch (422) and across the client's batches (409)"),
    parameters: z.record(z.string(), z.unknown()).optional().describe("The call's parameters (see its /v2 operation)"),
    metadata: Metadata.optional(),
  })
  .openapi("BatchItemInput");

export const CreateBatchBody = z
  .strictObject({
    label: z.string().min(1).max(255).optional(),
    metadata: Metadata.optional(),
    idempotency_key: z.string().min(1).max(255).optional().describe("The same key returns the existing batch (200)"),
    items: z.array(BatchItemInput).optional().describe("Items to add at once (up to ASYNC_BATCH_MAX_ITEMS, 5,000 by default)"),
    process: z.boolean().optional().describe("Submit for processing at once (202)"),
  })
  .openapi("CreateBatchRequest");

export const AddItemsBody = z.strictObject({ items: z.array(BatchItemInput).min(1) }).openapi("AddBatchItemsRequest");

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
    reference_id: z.string().nullable(),
    idempotency_key: z.string().nullable(),
    call: z.string(),
    status: z.enum(ITEM_STATUSES),
    attempt: z.number().int(),
    http_status: z.number().int().nullable(),
    response: z.unknown().describe("The call's response or classic error body (the last attempt's)"),
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
