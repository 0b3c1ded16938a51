/**
 * @module
 * The one error renderer. Every error the gateway answers with — from a route, the body limit,
 * the not-found handler, the worker's edge, the dev routes, a misconfigured worker — is a catalog
 * entry rendered here for the surface the request addressed:
 *
 * - classic (`/batch/create`, `/v2/*` and every other path that is not /v1):
 *   `{error, error_description, error_code, request_id}`
 * - v1 (`/v1/*` and `/admin/v1/*`): `{"error": {"code", "message", "request_id", "details"?}}`
 *
 * The surface is chosen by path prefix (surfaceOf). Web-standard only: the worker's edge uses it.
 */
import { ERROR_CATALOG, type ErrorCode, type ErrorDetails, toClassicError } from "../core/errors.js";

export type Surface = "classic" | "v1";

/** What to render: a catalog code, optionally a more precise message and what it points at. */
export interface ErrorEntry {
  code: ErrorCode;
  message?: string;
  details?: ErrorDetails;
}

export function surfaceOf(path: string): Surface {
  return path === "/v1" || path.startsWith("/v1/") || path === "/admin/v1" || path.startsWith("/admin/v1/") ? "v1" : "classic";
}

/** The body of an error on a surface. */
export function errorBody(entry: ErrorEntry, surface: Surface, requestId: string): Record<string, unknown> {
  if (surface === "v1") {
    const error: Record<string, unknown> = {
      code: entry.code,
      message: entry.message ?? ERROR_CATALOG[entry.code].description,
      request_id: requestId,
    };
    if (entry.details) error.details = entry.details;
    return { error };
  }
  return { ...toClassicError(entry.code, entry.message), request_id: requestId };
}

/** The whole response: the entry's catalog status, the body, `X-Request-Id` and any extra headers. */
export function renderError(entry: ErrorEntry, surface: Surface, requestId: string, headers?: Record<string, string>): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  h.set("x-request-id", requestId);
  return new Response(JSON.stringify(errorBody(entry, surface, requestId)), { status: ERROR_CATALOG[entry.code].status, headers: h });
}
