/**
 * @module
 * Upstream handlers: operator-declared calls forwarded to an internal HTTP endpoint (DESIGN §2).
 * The call's parameters are POSTed as JSON with the caller's access token as a Bearer token and
 * the request id; a 2xx JSON answer is the call's response, anything else is the call's error.
 */
import { z } from "zod";
import { exceedsDepth, isJsonObject, MAX_JSON_DEPTH } from "../core/envelope.js";
import { GatewayError } from "../core/errors.js";
import { readAtMost } from "../core/streams.js";
import { defineHandler, type HandlerDef } from "../core/call-contract.js";

export const UpstreamSchema = z.strictObject({
  call: z.string().regex(/^\/[a-z0-9_\-/]+$/i, "must start with / and use letters, digits, _ - /"),
  url: z.url({ protocol: /^https?$/ }),
  /** Milliseconds to wait for the upstream; the call's own timeout still applies. */
  timeout_ms: z.number().int().min(1).max(600_000).default(10_000),
  /** forward: a token is required and passed on; none: no token needed (one given is still passed on). */
  auth: z.enum(["forward", "none"]).default("forward"),
  summary: z.string().max(200).optional(),
});

export const UpstreamsFileSchema = z.strictObject({ upstreams: z.array(UpstreamSchema).max(1000) });

export type UpstreamConfig = z.output<typeof UpstreamSchema>;

/** Largest upstream answer read, so a misbehaving upstream cannot exhaust memory. */
const MAX_UPSTREAM_BYTES = 1024 * 1024;

export function upstreamHandler(up: UpstreamConfig): HandlerDef {
  return defineHandler({
    name: up.call,
    summary: up.summary ?? `Forwarded to ${new URL(up.url).host}`,
    auth: up.auth,
    schema: z.custom<Record<string, unknown>>(isJsonObject, "must be a JSON object"),
    async run(params, ctx) {
      const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": ctx.requestId };
      if (ctx.authorization) headers.authorization = `Bearer ${ctx.authorization}`;
      // One controller for the call's own signal and the upstream's timeout, with a timer held and
      // cleared here: AbortSignal.any() keeps only weak references to its sources, so a bare
      // AbortSignal.timeout() in it can be garbage-collected before it fires.
      const controller = new AbortController();
      const signal = controller.signal;
      const stop = () => controller.abort();
      const timer = setTimeout(stop, up.timeout_ms);
      const callSignal = ctx.signal;
      if (callSignal.aborted) stop();
      else callSignal.addEventListener("abort", stop, { once: true });
      try {
        return await forward(up, ctx.services.fetch, params, headers, signal);
      } finally {
        clearTimeout(timer);
        callSignal.removeEventListener("abort", stop);
      }
    },
  });
}

/** POSTs the call to the upstream and reads its answer, within `signal`. */
async function forward(
  up: UpstreamConfig,
  fetchFn: typeof fetch,
  params: Record<string, unknown>,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchFn(up.url, { method: "POST", headers, body: JSON.stringify(params), signal, redirect: "manual" });
  } catch (e) {
    if (signal.aborted) throw new GatewayError("call_timeout", `The upstream did not answer within ${up.timeout_ms} ms.`);
    throw new GatewayError("upstream_unavailable", `The upstream for ${up.call} could not be reached.`);
  }
  let bytes: Uint8Array | null;
  try {
    bytes = res.body ? await readAtMost(res.body, MAX_UPSTREAM_BYTES) : new Uint8Array(0);
  } catch {
    if (signal.aborted) throw new GatewayError("call_timeout", `The upstream did not finish answering within ${up.timeout_ms} ms.`);
    throw new GatewayError("upstream_error", "The upstream's answer was broken off.");
  }
  if (bytes === null) throw new GatewayError("upstream_error", `The upstream's answer is larger than ${MAX_UPSTREAM_BYTES} bytes.`);
  const text = new TextDecoder().decode(bytes);
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status < 200 || res.status > 299) {
    const detail = describeUpstreamError(body);
    throw new GatewayError("upstream_error", `The upstream answered ${res.status}${detail ? `: ${detail}` : "."}`);
  }
  if (body === undefined) throw new GatewayError("upstream_error", "The upstream answered with a body that is not JSON.");
  if (exceedsDepth(body, MAX_JSON_DEPTH)) {
    throw new GatewayError("upstream_error", `The upstream's answer nests deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  return body;
}

function describeUpstreamError(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as Record<string, unknown>;
  const nested = typeof b.error === "object" && b.error !== null ? (b.error as Record<string, unknown>) : null;
  const msg = b.error_description ?? nested?.message ?? b.message ?? (typeof b.error === "string" ? b.error : null);
  return typeof msg === "string" ? msg.slice(0, 300) : null;
}
