/**
 * @module
 * POST /v2/<call>: any registered call alone, with `Authorization: Bearer <token>` and the
 * parameters as the body (DESIGN §1.2). Same handler, same errors as inside a batch.
 */
import type { Hono } from "hono";
import { parseBearer } from "../src/core/auth.js";
import { GatewayError } from "../src/core/errors.js";
import type { AppEnv } from "./env.js";
import { readJsonObject, setRateLimitHeaders } from "./http.js";

export function registerSingleCall(app: Hono<AppEnv>) {
  app.post("/v2/*", async (c) => {
    const { engine } = c.get("services");
    const name = c.req.path.slice("/v2".length);
    const header = c.req.header("authorization");
    const token = parseBearer(header);
    if (header && token === null) throw new GatewayError("invalid_token", "Authorization must be a Bearer access token.");
    const parameters = await readJsonObject(c, { allowEmpty: true });
    c.set("calls", 1);
    const { result, rate } = await engine.runSingle(
      { call: name, authorization: token ?? undefined, parameters },
      { requestId: c.get("requestId"), logger: c.get("logger") },
    );
    if (rate) setRateLimitHeaders(c, rate);
    const isError = result.status >= 400;
    const body = isError ? { ...(result.response as object), request_id: c.get("requestId") } : result.response;
    return c.json(body as object, result.status as 200);
  });
}
