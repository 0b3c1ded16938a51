/**
 * @module
 * What every route's description shares: the error shapes and the catalog's codes, the
 * Idempotency-Key and rate-limit headers, request bodies described from the handlers' own zod
 * schemas, and the validation hook that turns a zod failure into a catalog error.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ZodType } from "zod";
import { describeZodError } from "../src/core/engine.js";
import { ERROR_CATALOG, ERROR_CODES } from "../src/core/errors.js";
import type { AppEnv } from "../src/http/env.js";
import { respondWithError } from "../src/http/on-error.js";

export const ErrorCode = z.enum(ERROR_CODES).openapi("ErrorCode", {
  description: Object.entries(ERROR_CATALOG)
    .map(([code, e]) => `- \`${code}\` (${e.status}, ${e.errorCode}): ${e.description}`)
    .join("\n"),
});

export const ClassicError = z
  .object({
    error: ErrorCode,
    error_description: z.string(),
    error_code: z.number().int().describe("The catalog's numeric code"),
    request_id: z.string(),
  })
  .openapi("ClassicError", { description: "An error on /batch/create and /v2/*." });

/** A call's error inside a batch's results: the classic shape without the request id. */
export const CallError = z
  .object({ error: ErrorCode, error_description: z.string(), error_code: z.number().int() })
  .openapi("CallError");

export const V1Error = z
  .object({
    error: z.object({
      code: ErrorCode,
      message: z.string(),
      request_id: z.string(),
      details: z.record(z.string(), z.union([z.string(), z.number()])).optional().describe("The field or item index the error is about"),
    }),
  })
  .openapi("V1Error", { description: "An error on /v1/* and /admin/v1/*." });

export const RateLimitHeaders = z.object({
  "RateLimit-Policy": z.string().optional().describe('The limit that applies: `"client";q=100;w=60`'),
  RateLimit: z.string().optional().describe('What is left of it: `"client";r=99;t=60`'),
  "Retry-After": z.string().optional().describe("Seconds to wait, on 429"),
});

/** Described, not validated by a zod validator: the route checks it after authentication, as before. */
export const idempotencyKeyParameter = {
  name: "Idempotency-Key",
  in: "header" as const,
  required: false,
  description:
    "1 to 255 visible ASCII characters. The first completed response is stored and replayed with `Idempotent-Replayed: true`; the same key with another body is 422, while the first is running 409.",
  schema: { type: "string" as const, pattern: "^[\\x21-\\x7e]{1,255}$" },
};

/** Classic error responses for a route, by status. */
export function classicErrors(statuses: number[]) {
  const out: Record<number, { description: string; content: { "application/json": { schema: typeof ClassicError } }; headers?: typeof RateLimitHeaders }> = {};
  for (const status of statuses) {
    const codes = Object.entries(ERROR_CATALOG).filter(([, e]) => e.status === status).map(([c]) => `\`${c}\``);
    out[status] = { description: codes.join(", ") || "Error", content: { "application/json": { schema: ClassicError } } };
    if (status === 429) out[status].headers = RateLimitHeaders;
  }
  return out;
}

/**
 * A JSON request body described by the INPUT side of a zod schema (parameters transform amounts
 * into minor units; the caller sends the decimal string). A plain JSON Schema rather than the zod
 * schema itself, so that no second validator runs: the route reads the body once and the engine
 * validates the parameters once.
 */
export function describedJsonBody(schema: ZodType | null, description?: string) {
  let json: Record<string, unknown> = { type: "object", additionalProperties: true };
  if (schema) {
    const generated = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;
    delete generated.$schema;
    if (generated.type !== undefined || generated.anyOf !== undefined || generated.oneOf !== undefined) json = generated;
  }
  return { description, required: false, content: { "application/json": { schema: json } } };
}

/** Any zod validator's failure on a route, as a catalog error on the route's surface. */
export function validationHook(result: { success: boolean; target: string; error?: unknown }, c: Context<AppEnv>) {
  if (result.success) return;
  const error = result.error as Parameters<typeof describeZodError>[0];
  if (result.target === "header") return respondWithError(c, { code: "invalid_idempotency_key" });
  const root = result.target === "json" ? "body" : result.target;
  const issue = error.issues[0];
  // An unknown field is named itself, not the object that carries it.
  const path = [...(issue?.path ?? []), ...(issue?.code === "unrecognized_keys" ? issue.keys.slice(0, 1) : [])];
  return respondWithError(c, { code: "invalid_body", message: describeZodError(error, root), details: { field: [root, ...path.map(String)].join(".") } });
}
