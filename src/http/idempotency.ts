/**
 * @module
 * The Idempotency-Key header on POST endpoints (DESIGN §1.5). A route hands its execution to
 * withIdempotency; requests rejected before execution (the route throws, or reports
 * `executed: false`) release their claim, so nothing is stored for them.
 */
import type { Context } from "hono";
import { GatewayError } from "../core/errors.js";
import { Idempotency, type IdempotencyBegin } from "../core/idempotency.js";
import type { AppEnv } from "./env.js";

export interface Execution {
  status: number;
  body: unknown;
  /** false when the request was rejected before anything ran: the claim is released. */
  executed: boolean;
  /** When the first answer was a timeout, the handler's real outcome, stored once it settles. */
  final?: Promise<{ status: number; body: unknown }>;
}

export interface IdempotentRequest {
  /** Whose keys these are: `client:<id>` or `token:<hash>`. */
  scope: string;
  /** What the request asks for, fingerprinted with the method and path. */
  fingerprintOf: unknown[];
  /** Runs the request; `ref` is a stable id for its effects when a key is present. */
  execute: (ref: string | undefined) => Promise<Execution>;
}

export function idempotencyKeyOf(c: Context<AppEnv>): string | undefined {
  const key = c.req.header("idempotency-key");
  return key === undefined ? undefined : Idempotency.validateKey(key);
}

export async function withIdempotency(c: Context<AppEnv>, key: string | undefined, req: IdempotentRequest): Promise<Response> {
  if (key === undefined) {
    const r = await req.execute(undefined);
    return json(c, r.status, JSON.stringify(r.body));
  }
  const idem = c.get("services").idempotency;
  const fingerprint = await idem.fingerprint(c.req.method, c.req.path, ...req.fingerprintOf);
  let begun: IdempotencyBegin;
  try {
    begun = await idem.begin(req.scope, key, fingerprint);
  } catch (e) {
    if (e instanceof GatewayError) {
      const metrics = c.get("services").metrics;
      if (e.code === "idempotency_key_in_use") metrics.inc("batchgate_idempotency_total", { result: "in_use" });
      else if (e.code === "idempotency_key_reused") metrics.inc("batchgate_idempotency_total", { result: "reused" });
      throw e;
    }
    throw new GatewayError("service_unavailable", "The idempotency store is unavailable; nothing ran.");
  }
  if (begun.kind === "replay") {
    c.get("services").metrics.inc("batchgate_idempotency_total", { result: "replay" });
    c.header("Idempotent-Replayed", "true");
    return json(c, begun.response.status, begun.response.body);
  }
  const claim = begun;
  let r: Execution;
  try {
    // The effects' stable id: the same key and request always name the same payment or payout.
    r = await req.execute(await idem.effectRef({ scope: req.scope, key, fingerprint }));
  } catch (e) {
    await claim.abandon().catch(() => undefined);
    throw e;
  }
  const text = JSON.stringify(r.body);
  if (!r.executed) {
    await claim.abandon();
  } else if (r.final) {
    const logger = c.get("logger");
    void r.final
      .then((f) => claim.finish({ status: f.status, body: JSON.stringify(f.body) }))
      .catch((e: unknown) => logger.error({ err: String(e) }, "idempotency record not stored"));
  } else {
    // Stored before answering: an answered key always replays, even after a crash.
    await claim.finish({ status: r.status, body: text });
  }
  return json(c, r.status, text);
}

/** Through the context, so headers set earlier (rate limits) are kept. */
function json(c: Context<AppEnv>, status: number, body: string): Response {
  c.header("content-type", "application/json");
  return c.body(body, status as 200);
}
