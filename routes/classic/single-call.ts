/**
 * @module
 * POST /v2/<call>: any registered call alone, with `Authorization: Bearer <token>` and the
 * parameters as the body (DESIGN §1.2). Same handler, same errors as inside a batch.
 *
 * Each registered call (built-in or upstream) is its own operation, described with its handler's
 * parameter and response schemas; a catch-all after them answers unknown calls (`unknown_call`,
 * from the engine, as inside a batch). The engine validates the parameters, once.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Schema } from "hono/types";
import { parseBearer } from "../../src/core/auth.js";
import type { CallResult } from "../../src/core/engine.js";
import { GatewayError } from "../../src/core/errors.js";
import type { HandlerDef } from "../../src/core/call-contract.js";
import { readJsonObject, setRateLimitHeaders } from "../../src/http/body.js";
import type { AppEnv } from "../../src/http/env.js";
import { idempotencyKeyOf, withIdempotency } from "../../src/http/idempotency.js";
import { classicErrors, describedJsonBody, idempotencyKeyParameter, RateLimitHeaders } from "../schemas.js";

const FreeObject = z.record(z.string(), z.unknown());

function callRoute(handler: HandlerDef) {
  const needsToken = handler.auth !== "none";
  const upstream = handler.response === undefined;
  return createRoute({
    method: "post",
    path: `/v2${handler.name}`,
    tags: [upstream ? "Upstream calls" : "Calls"],
    summary: handler.summary,
    description: [
      handler.scope ? `Needs an access token with the \`${handler.scope}\` scope.` : needsToken ? "Needs an access token, forwarded to the upstream." : "No access token needed.",
      "An empty body is `{}`.",
      upstream ? "Forwarded to an upstream service declared by the operator: parameters and response are free objects." : "",
    ].filter(Boolean).join(" "),
    security: needsToken ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }],
    parameters: [idempotencyKeyParameter],
    request: { body: describedJsonBody(upstream ? null : handler.schema, "The call's parameters") },
    responses: {
      200: { description: "The call's response", content: { "application/json": { schema: handler.response ?? FreeObject } }, headers: RateLimitHeaders },
      ...classicErrors([400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503, 504]),
    },
  });
}

export function registerSingleCalls<S extends Schema>(app: OpenAPIHono<AppEnv, S>, handlers: readonly HandlerDef[]) {
  for (const handler of handlers) app.openapi(callRoute(handler), (c) => singleCall(c, handler.name));
  // Unknown calls: not an operation of their own, the engine answers unknown_call.
  app.post("/v2/*", (c) => singleCall(c, c.req.path.slice("/v2".length)));
  return app;
}

async function singleCall(c: Context<AppEnv>, name: string): Promise<Response> {
  const { engine, auth } = c.get("services");
  const header = c.req.header("authorization");
  const token = parseBearer(header);
  if (header && token === null) throw new GatewayError("invalid_token", "Authorization must be a Bearer access token.");
  const parameters = await readJsonObject(c, { allowEmpty: true });
  const key = idempotencyKeyOf(c);
  // Single calls carry no client credentials: a key belongs to the access token, and a call
  // without one has nobody to belong to (a shared scope would let strangers replay each other).
  if (key !== undefined && !token) {
    throw new GatewayError("idempotency_key_needs_identity", "An Idempotency-Key on a single call needs Authorization: Bearer <access token> to scope it to; send the call without the key, or with a token.");
  }
  c.set("calls", 1);
  const scope = token ? `token:${await auth.hash(token)}` : "anonymous";
  const requestId = c.get("requestId");
  const render = (r: CallResult) => (r.status >= 400 ? { ...(r.response as object), request_id: requestId } : r.response);

  return withIdempotency(c, key, {
    scope,
    fingerprintOf: [parameters],
    execute: async (ref) => {
      const outcome = await engine.runSingle(
        { call: name, authorization: token ?? undefined, parameters },
        { requestId, logger: c.get("logger"), callRef: ref },
      );
      if (outcome.rate) setRateLimitHeaders(c, outcome.rate);
      const { result } = outcome;
      const timedOut = result.status === 504 && outcome.executed;
      return {
        status: result.status,
        body: render(result),
        executed: outcome.executed,
        final: timedOut ? outcome.settled.then((f) => ({ status: f.status, body: render(f) })) : undefined,
      };
    },
  });
}
