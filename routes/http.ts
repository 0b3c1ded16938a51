/**
 * @module
 * Request parsing and response rendering shared by the routes.
 */
import type { Context } from "hono";
import { GatewayError, isGatewayError, toClassicError } from "../src/core/errors.js";
import { exceedsDepth, isJsonObject, MAX_JSON_DEPTH } from "../src/core/envelope.js";
import type { RateDecision } from "../src/ports/rate-limiter.js";
import { StoreUnavailableError } from "../src/ports/errors.js";
import type { AppEnv } from "./env.js";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

/**
 * Reads the body as a JSON object. With `allowEmpty`, an empty body is `{}`.
 * Throws unsupported_media_type, invalid_json or invalid_body; body_too_large comes from the
 * body-limit middleware.
 */
export async function readJsonObject(c: Context<AppEnv>, opts: { allowEmpty: boolean }): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.length === 0 && opts.allowEmpty) return {};
  const type = c.req.header("content-type");
  if (!type || !JSON_TYPE.test(type)) {
    throw new GatewayError("unsupported_media_type", "The request body must be sent with Content-Type: application/json.");
  }
  if (text.trim().length === 0) throw new GatewayError("invalid_json", "The request body is empty.");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GatewayError("invalid_json");
  }
  if (!isJsonObject(parsed)) throw new GatewayError("invalid_body");
  if (exceedsDepth(parsed, MAX_JSON_DEPTH)) {
    throw new GatewayError("invalid_body", `The request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  return parsed;
}


/** Sets RateLimit-Policy and RateLimit (IETF httpapi ratelimit-headers draft) and, when rejected, Retry-After. */
export function setRateLimitHeaders(c: Context<AppEnv>, d: RateDecision) {
  c.header("RateLimit-Policy", `"${d.policy}";q=${d.limit};w=${d.windowSeconds}`);
  c.header("RateLimit", `"${d.policy}";r=${Math.max(0, d.remaining)};t=${d.resetSeconds}`);
  if (!d.allowed) c.header("Retry-After", String(Math.max(1, d.resetSeconds)));
}

/** Renders any thrown value as the classic error body with the request id. */
export function renderClassicError(c: Context<AppEnv>, err: unknown): Response {
  const requestId = c.get("requestId");
  if (isGatewayError(err)) {
    if (err.headers) for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json({ ...err.toClassic(), request_id: requestId }, err.status as 400);
  }
  if (err instanceof StoreUnavailableError) {
    c.get("logger")?.warn({ request_id: requestId, err: err.message }, "store unavailable");
    return c.json({ ...toClassicError("service_unavailable", "The gateway's store is unavailable; retry later."), request_id: requestId }, 503);
  }
  c.get("logger")?.error({ request_id: requestId, err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) }, "unhandled error");
  return c.json({ ...toClassicError("internal_error"), request_id: requestId }, 500);
}
