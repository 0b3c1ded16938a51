/**
 * @module
 * POST /v2/<call>: any registered call alone, with `Authorization: Bearer <token>` and the
 * parameters as the body (DESIGN §1.2). Same handler, same errors as inside a batch.
 */
import type { Hono } from "hono";
import { parseBearer } from "../src/core/auth.js";
import type { CallResult } from "../src/core/engine.js";
import { GatewayError } from "../src/core/errors.js";
import type { AppEnv } from "./env.js";
import { readJsonObject, setRateLimitHeaders } from "./http.js";
import { idempotencyKeyOf, withIdempotency } from "./idempotency.js";

export function registerSingleCall(app: Hono<AppEnv>) {
  app.post("/v2/*", async (c) => {
    const { engine, auth } = c.get("services");
    const name = c.req.path.slice("/v2".length);
    const header = c.req.header("authorization");
    const token = parseBearer(header);
    if (header && token === null) throw new GatewayError("invalid_token", "Authorization must be a Bearer access token.");
    const parameters = await readJsonObject(c, { allowEmpty: true });
    const key = idempotencyKeyOf(c);
    c.set("calls", 1);
    // Single calls carry no client credentials: their keys belong to the access token.
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
  });
}
