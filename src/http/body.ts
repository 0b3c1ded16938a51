/**
 * @module
 * Reading a request body as a JSON object, and the rate-limit response headers.
 */
import type { Context } from "hono";
import { GatewayError } from "../core/errors.js";
import { exceedsDepth, isJsonObject, MAX_JSON_DEPTH } from "../core/envelope.js";
import type { RateDecision } from "../ports/rate-limiter.js";
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

/** The largest body accepted on a path: ASYNC_BATCH_MAX_BODY_BYTES on /v1/batches, MAX_BODY_BYTES elsewhere. */
export function bodyLimitFor(path: string, limits: { MAX_BODY_BYTES: number; ASYNC_BATCH_MAX_BODY_BYTES: number }): number {
  return path === "/v1/batches" || path.startsWith("/v1/batches/") ? limits.ASYNC_BATCH_MAX_BODY_BYTES : limits.MAX_BODY_BYTES;
}
