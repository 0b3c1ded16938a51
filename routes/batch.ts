/**
 * @module
 * POST /batch/create and POST /v2/batch/create: the classic multiplexed batch (DESIGN §1.1).
 *
 * Order: parse the body → authenticate the client → validate the whole envelope → claim the
 * Idempotency-Key (or replay) → charge the client's rate limit → run. Nothing runs unless every
 * step before it passed, and a request rejected before it ran stores no idempotency record.
 */
import type { Context, Hono } from "hono";
import { parseBasicAuth } from "../src/core/auth.js";
import { parseBatchEnvelope } from "../src/core/envelope.js";
import { GatewayError } from "../src/core/errors.js";
import type { ClientRecord } from "../src/ports/credentials.js";
import type { AppEnv } from "./env.js";
import { readJsonObject, setRateLimitHeaders } from "./http.js";
import { idempotencyKeyOf, withIdempotency } from "./idempotency.js";

export function registerBatch(app: Hono<AppEnv>) {
  app.post("/batch/create", batchCreate);
  app.post("/v2/batch/create", batchCreate);
}

async function batchCreate(c: Context<AppEnv>) {
  const { config, engine, clientLimiter, idempotency } = c.get("services");
  const body = await readJsonObject(c, { allowEmpty: false });
  const client = await authenticateClient(c, body);
  c.set("clientId", client.clientId);
  const envelope = parseBatchEnvelope(body, config.MAX_CALLS);
  c.set("calls", envelope.calls.length);
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
        throw new GatewayError("throttle_exceeded", `This client is over its rate limit; retry in ${decision.resetSeconds} s.`);
      }
      const calls = await engine.runBatch(envelope.calls, {
        requestId: c.get("requestId"),
        logger: c.get("logger"),
        idempotency: { service: idempotency, scope },
        batchRef: ref,
      });
      return { status: 200, body: { calls, request_id: c.get("requestId") }, executed: true };
    },
  });
}

/** Client credentials from the body (classic) or HTTP Basic; when both are given they must agree. */
async function authenticateClient(c: Context<AppEnv>, body: Record<string, unknown>): Promise<ClientRecord> {
  const basic = parseBasicAuth(c.req.header("authorization"));
  const inBody = body.client_id !== undefined || body.client_secret !== undefined;
  if (!inBody && !basic) {
    throw new GatewayError("invalid_client", "Client credentials are required: client_id and client_secret in the body, or HTTP Basic.");
  }
  let id: unknown = basic?.clientId;
  let secret: unknown = basic?.secret;
  if (inBody) {
    if (basic && (String(body.client_id) !== basic.clientId || body.client_secret !== basic.secret)) {
      throw new GatewayError("invalid_client", "The client credentials in the body and in HTTP Basic differ.");
    }
    id = body.client_id;
    secret = body.client_secret;
  }
  if (typeof secret !== "string" || secret.length === 0 || secret.length > 255) {
    throw new GatewayError("invalid_envelope", "client_secret must be a string of 1 to 255 characters.");
  }
  const clientId = typeof id === "number" ? id : typeof id === "string" && /^\d{1,19}$/.test(id) ? Number(id) : NaN;
  if (!Number.isSafeInteger(clientId) || clientId < 0) {
    if (typeof id === "number" || (typeof id === "string" && /^\d+$/.test(id))) throw new GatewayError("invalid_client");
    throw new GatewayError("invalid_envelope", "client_id must be an integer.");
  }
  return c.get("services").auth.verifyClient(clientId, secret);
}
