/**
 * @module
 * POST /batch/create and POST /v2/batch/create: the classic multiplexed batch (DESIGN §1.1).
 *
 * Order: parse the body → authenticate the client → validate the whole envelope → claim the
 * Idempotency-Key (or replay) → charge the client's rate limit → run. Nothing runs unless every
 * step before it passed, and a request rejected before it ran stores no idempotency record.
 *
 * The envelope is described to OpenAPI by BatchEnvelope and validated at run time by
 * parseBatchEnvelope, one pass that also checks what a schema cannot (unique reference ids and
 * idempotency keys, the MAX_CALLS limit) and leaves each call's parameters to its handler.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Schema } from "hono/types";
import { parseBatchEnvelope } from "../../src/core/envelope.js";
import { GatewayError } from "../../src/core/errors.js";
import type { AppEnv } from "../../src/http/env.js";
import { readJsonObject, setRateLimitHeaders } from "../../src/http/body.js";
import { authenticateBatchClient, authenticateClient } from "../../src/http/client-auth.js";
import { idempotencyKeyOf, withIdempotency } from "../../src/http/idempotency.js";
import { CallError, classicErrors, describedJsonBody, idempotencyKeyParameter, RateLimitHeaders } from "../schemas.js";

export const BatchCall = z.strictObject({
  call: z.string().min(1).max(255).describe("A registered call, e.g. /wallet/find"),
  authorization: z.string().max(1024).optional().describe("The end user's access token for this call"),
  reference_id: z.string().min(1).max(255).optional().describe("Echoed in the call's result; unique within the batch"),
  parameters: z.record(z.string(), z.unknown()).optional().describe("The call's parameters (see its /v2 operation)"),
  idempotency_key: z.string().min(1).max(255).optional().describe("A key for this call alone; unique within the batch"),
});

export const BatchEnvelope = z.strictObject({
  client_id: z.union([z.number().int(), z.string()]).optional().describe("With client_secret: the client credentials in the body (or use HTTP Basic)"),
  client_secret: z.string().max(255).optional(),
  calls: z.array(BatchCall).min(1).describe("1 to MAX_CALLS calls (50 by default), run concurrently, answered in order"),
  atomic: z
    .boolean()
    .optional()
    .describe(
      "All or nothing: the calls run one after another, in order; if one fails the calls after it do not run (`atomic_batch_aborted`, 424) and the calls that succeeded are compensated newest first (`/payment/create` is reversed, a pending `/payout/create` cancelled; lookups need nothing). Every call must declare a compensating action, else the batch is refused with 400 `call_not_compensable` naming the call, and nothing runs.",
    ),
});

export const CallResult = z
  .object({
    call: z.string(),
    reference_id: z.string().nullable(),
    status: z.number().int().describe("The HTTP status this call would have had alone"),
    response: z.union([z.record(z.string(), z.unknown()), CallError]).describe("The call's response, or its error"),
    compensated: z.literal(true).optional().describe("Atomic batches: this call had succeeded and was compensated after a later call failed"),
    compensation_error: CallError.optional().describe("Atomic batches: this call's compensation failed; its effect stands and needs an operator"),
  })
  .openapi("CallResult");

export const BatchResponse = z.object({ calls: z.array(CallResult), request_id: z.string() }).openapi("BatchResponse");

// `{}`: no header scheme, the credentials are client_id and client_secret in the body.
const batchSecurity: Record<string, string[]>[] = [{ basicAuth: [] }, {}];

const batchOperation = {
  method: "post" as const,
  tags: ["Batch"],
  description:
    "The client authenticates with HTTP Basic or with `client_id` and `client_secret` in the body (both may be given if they agree). Each call carries its own end-user access token. The envelope is validated as a whole before anything runs; results are one per call, in order.",
  security: batchSecurity,
  parameters: [idempotencyKeyParameter],
  request: { body: { ...describedJsonBody(BatchEnvelope), required: true } },
  responses: {
    200: { description: "Every call's result, in order", content: { "application/json": { schema: BatchResponse } }, headers: RateLimitHeaders },
    ...classicErrors([400, 401, 409, 413, 415, 422, 429, 503]),
  },
};

const batchCreateRoute = createRoute({ ...batchOperation, path: "/batch/create", summary: "Run many calls in one request" });
const v2BatchCreateRoute = createRoute({ ...batchOperation, path: "/v2/batch/create", summary: "Run many calls in one request (alias of /batch/create)" });

export function registerBatchCreate<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  // The answer is JSON text written by withIdempotency (a replay is the stored text); the route's
  // response schemas type it for the client.
  return app
    .openapi(batchCreateRoute, (c) => batchCreate(c) as Promise<never>)
    .openapi(v2BatchCreateRoute, (c) => batchCreate(c) as Promise<never>);
}

async function batchCreate(c: Context<AppEnv>): Promise<Response> {
  const { config, engine, clientLimiter, idempotency, metrics } = c.get("services");
  const body = await readJsonObject(c, { allowEmpty: false });
  // A plain batch (no Idempotency-Key, not atomic) stores nothing before the engine's admission,
  // which confirms a client verified from the cache before any call is admitted (until then only
  // the client's rate limit is charged); the others read the client from the store first.
  const plain = c.req.header("idempotency-key") === undefined && body.atomic !== true;
  const { client, confirm } = plain ? await authenticateBatchClient(c, body) : { client: await authenticateClient(c, body), confirm: undefined };
  c.set("clientId", client.clientId);
  const envelope = parseBatchEnvelope(body, config.MAX_CALLS);
  c.set("calls", envelope.calls.length);
  // Refused before the Idempotency-Key is claimed: nothing runs and nothing is stored.
  if (envelope.atomic) c.get("services").atomic.check(envelope.calls);
  const key = idempotencyKeyOf(c);
  const scope = `client:${client.clientId}`;
  const { client_id: _id, client_secret: _secret, ...request } = body;

  return withIdempotency(c, key, {
    scope,
    fingerprintOf: [request],
    execute: async (ref) => {
      const cost = config.RATE_LIMIT_COST === "call" ? envelope.calls.length : 1;
      let decision;
      try {
        decision = await clientLimiter.consume(scope, cost);
      } catch {
        throw new GatewayError("service_unavailable", "The rate limiter is unavailable; nothing ran.");
      }
      setRateLimitHeaders(c, decision);
      if (!decision.allowed) {
        metrics.inc("batchgate_rate_limit_rejections_total", { policy: "client" });
        throw new GatewayError("throttle_exceeded", `This client is over its rate limit; retry in ${decision.resetSeconds} s.`);
      }
      metrics.observe("batchgate_batch_size", {}, envelope.calls.length);
      const runContext = {
        requestId: c.get("requestId"),
        logger: c.get("logger"),
        idempotency: { service: idempotency, scope },
        batchRef: ref,
        confirm,
      };
      const calls = envelope.atomic ? await c.get("services").atomic.run(envelope.calls, runContext) : await engine.runBatch(envelope.calls, runContext);
      return { status: 200, body: { calls, request_id: c.get("requestId") }, executed: true };
    },
  });
}
