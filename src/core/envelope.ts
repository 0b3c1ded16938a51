/**
 * @module
 * The classic batch envelope (DESIGN §1.1): validated as a whole before anything runs.
 */
import { z } from "zod";
import type { CallRequest } from "./engine.js";
import { describeZodError } from "./engine.js";
import { GatewayError } from "./errors.js";
import { IDEMPOTENCY_KEY } from "./idempotency.js";

/** @internal Exported for the test that checks isPlainCall against it. */
export const CallSchema = z.strictObject({
  call: z.string().min(1).max(255),
  authorization: z.string().max(1024).optional(),
  reference_id: z.string().min(1).max(255).optional(),
  // Kept as the very object JSON.parse made (a record schema would rebuild it and turn an own
  // "__proto__" key into a prototype); each handler's strict schema then names any unknown key.
  parameters: z.custom<Record<string, unknown>>(isJsonObject, "must be a JSON object").optional(),
  idempotency_key: z.string().regex(IDEMPOTENCY_KEY, "must be 1 to 255 visible ASCII characters").optional(),
});

/** @internal Exported for the test that checks isPlainEnvelope against it. */
export const EnvelopeSchema = z.strictObject({
  client_id: z.union([z.number(), z.string()]).optional(),
  client_secret: z.string().max(255).optional(),
  calls: z.array(z.unknown()),
  atomic: z.boolean().optional(),
});

export interface BatchEnvelope {
  clientId?: number | string;
  clientSecret?: string;
  calls: CallRequest[];
  /** All or nothing: calls run in order and the succeeded ones are compensated if one fails (src/core/atomic.ts). */
  atomic: boolean;
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const isString = (v: unknown, min: number, max: number): boolean => typeof v === "string" && v.length >= min && v.length <= max;

/**
 * Whether CallSchema accepts `v` as it is (its output would be an equal object): each key known,
 * each value of its type and size. Checked without zod, which is left to name what is wrong with
 * anything this does not accept (so its messages are the only ones).
 */
export function isPlainCall(v: unknown): v is CallRequest {
  if (!isJsonObject(v)) return false;
  let hasCall = false;
  for (const k of Object.keys(v)) {
    const x = v[k];
    switch (k) {
      case "call":
        if (!isString(x, 1, 255)) return false;
        hasCall = true;
        break;
      case "authorization":
        if (!isString(x, 0, 1024)) return false;
        break;
      case "reference_id":
        if (!isString(x, 1, 255)) return false;
        break;
      case "parameters":
        if (!isJsonObject(x)) return false;
        break;
      case "idempotency_key":
        if (typeof x !== "string" || !IDEMPOTENCY_KEY.test(x)) return false;
        break;
      default:
        return false;
    }
  }
  return hasCall;
}

/** Whether EnvelopeSchema accepts `body` as it is; the same division of work as isPlainCall. */
export function isPlainEnvelope(body: Record<string, unknown>): body is Record<string, unknown> & { calls: unknown[] } {
  let hasCalls = false;
  for (const k of Object.keys(body)) {
    const x = body[k];
    switch (k) {
      case "client_id":
        if (!(typeof x === "number" && Number.isFinite(x)) && typeof x !== "string") return false;
        break;
      case "client_secret":
        if (!isString(x, 0, 255)) return false;
        break;
      case "calls":
        if (!Array.isArray(x)) return false;
        hasCalls = true;
        break;
      case "atomic":
        if (typeof x !== "boolean") return false;
        break;
      default:
        return false;
    }
  }
  return hasCalls;
}

/** Validates the whole envelope; throws a GatewayError (nothing has run) on the first problem. */
export function parseBatchEnvelope(body: Record<string, unknown>, maxCalls: number): BatchEnvelope {
  const env = isPlainEnvelope(body) ? { success: true as const, data: body as z.output<typeof EnvelopeSchema> } : EnvelopeSchema.safeParse(body);
  if (!env.success) throw new GatewayError("invalid_envelope", describeZodError(env.error, "body"));
  const raw = env.data.calls;
  if (raw.length < 1 || raw.length > maxCalls) {
    throw new GatewayError("invalid_call_count", `calls must contain between 1 and ${maxCalls} calls; got ${raw.length}.`);
  }
  const calls: CallRequest[] = new Array(raw.length);
  const seen = new Set<string>();
  const keys = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const item = raw[i];
    const c = isPlainCall(item) ? { success: true as const, data: item } : CallSchema.safeParse(item);
    if (!c.success) throw new GatewayError("invalid_envelope", describeZodError(c.error, `calls[${i}]`));
    const ref = c.data.reference_id;
    if (ref !== undefined) {
      if (seen.has(ref)) {
        throw new GatewayError("duplicate_reference_id", `reference_id ${JSON.stringify(ref)} appears more than once (calls[${i}]).`);
      }
      seen.add(ref);
    }
    const key = c.data.idempotency_key;
    if (key !== undefined) {
      if (keys.has(key)) throw new GatewayError("duplicate_idempotency_key", `idempotency_key ${JSON.stringify(key)} appears more than once (calls[${i}]).`);
      keys.add(key);
    }
    calls[i] = c.data;
  }
  return { clientId: env.data.client_id, clientSecret: env.data.client_secret, calls, atomic: env.data.atomic === true };
}

/**
 * Deeper documents are refused before anything recursive (schemas, fingerprints, forwarding to
 * an upstream) could overflow the stack on them.
 */
export const MAX_JSON_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `max`; iterative, so it cannot overflow itself. */
export function exceedsDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
