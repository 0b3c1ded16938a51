/**
 * @module
 * Turns anything a route throws into a catalog entry and renders it through the one renderer
 * (errors.ts) on the request's surface. Headers set earlier on the context (rate limits) are kept.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ERROR_CATALOG, isGatewayError } from "../core/errors.js";
import { StoreUnavailableError } from "../ports/errors.js";
import type { AppEnv } from "./env.js";
import { type ErrorEntry, errorBody, surfaceOf } from "./errors.js";

/** Renders an entry on the context, so headers set before (RateLimit, Retry-After) stay. */
export function respondWithError(c: Context<AppEnv>, entry: ErrorEntry, headers?: Record<string, string>): Response {
  if (headers) for (const [k, v] of Object.entries(headers)) c.header(k, v);
  const requestId = c.get("requestId");
  const body = errorBody(entry, surfaceOf(c.req.path), requestId);
  c.header("X-Request-Id", requestId);
  return c.json(body, statusOf(entry));
}

/** The catalog entry for any thrown value; unknown ones are logged and become internal_error. */
export function entryOf(c: Context<AppEnv>, err: unknown): { entry: ErrorEntry; headers?: Record<string, string> } {
  if (isGatewayError(err)) {
    // Every whole-request service_unavailable is a store (or a limiter's store) that failed.
    if (err.code === "service_unavailable") c.get("services")?.metrics.inc("batchgate_store_errors_total");
    return { entry: { code: err.code, message: err.message, details: err.details }, headers: err.headers };
  }
  if (err instanceof StoreUnavailableError) {
    c.get("services")?.metrics.inc("batchgate_store_errors_total");
    c.get("logger")?.warn({ request_id: c.get("requestId"), err: err.message }, "store unavailable");
    return { entry: { code: "service_unavailable", message: "The gateway's store is unavailable; retry later." } };
  }
  // Hono's own refusals (a validator's media-type gate) keep their meaning.
  if (err instanceof HTTPException && err.status === 415) {
    return { entry: { code: "unsupported_media_type", message: "The request body must be sent with Content-Type: application/json." } };
  }
  // A JSON validator that could not parse the body.
  if (err instanceof HTTPException && err.status === 400) return { entry: { code: "invalid_json" } };
  const e = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err);
  c.get("logger")?.error({ request_id: c.get("requestId"), err: e }, "unhandled error");
  return { entry: { code: "internal_error" } };
}

export function renderThrown(c: Context<AppEnv>, err: unknown): Response {
  const { entry, headers } = entryOf(c, err);
  return respondWithError(c, entry, headers);
}

function statusOf(entry: ErrorEntry) {
  return ERROR_CATALOG[entry.code].status as 400;
}
