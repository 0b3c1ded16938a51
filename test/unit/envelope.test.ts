/**
 * The batch envelope parser and the JSON depth guard, alone: each refusal names what is wrong
 * (the field, the call index, the limit), and an accepted envelope keeps parameters as data.
 */
import { describe, expect, it } from "vitest";
import { CallSchema, EnvelopeSchema, exceedsDepth, isPlainCall, isPlainEnvelope, MAX_JSON_DEPTH, parseBatchEnvelope } from "../../src/core/envelope.js";
import { GatewayError } from "../../src/core/errors.js";

const MAX = 5;
const call = (i: number, extra: Record<string, unknown> = {}) => ({ call: "/user", reference_id: `r${i}`, ...extra });

/** The GatewayError parseBatchEnvelope throws for `body`. */
function refusal(body: Record<string, unknown>, max = MAX): GatewayError {
  try {
    parseBatchEnvelope(body, max);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("the envelope was accepted");
}

describe("parseBatchEnvelope", () => {
  it("accepts a valid envelope and returns its calls in order with the client credentials", () => {
    const env = parseBatchEnvelope({ client_id: 3, client_secret: "s", calls: [call(0), call(1, { authorization: "at_x", idempotency_key: "k-1" })] }, MAX);
    expect(env).toEqual({
      clientId: 3,
      clientSecret: "s",
      calls: [
        { call: "/user", reference_id: "r0" },
        { call: "/user", reference_id: "r1", authorization: "at_x", idempotency_key: "k-1" },
      ],
      atomic: false,
    });
    expect(parseBatchEnvelope({ calls: [call(0)], atomic: true }, MAX).atomic).toBe(true);
    expect(parseBatchEnvelope({ client_id: "3", calls: [call(0)] }, MAX).clientId).toBe("3");
  });

  it("refuses unknown fields in the envelope and in a call, naming them", () => {
    const top = refusal({ calls: [call(0)], parallel: true });
    expect(top.code).toBe("invalid_envelope");
    expect(top.message).toBe('body: unknown field "parallel"');
    const notBoolean = refusal({ calls: [call(0)], atomic: "yes" });
    expect(notBoolean.code).toBe("invalid_envelope");
    expect(notBoolean.message).toMatch(/^body\.atomic: /);
    const inCall = refusal({ calls: [call(0), call(1, { params: {} })] });
    expect(inCall.code).toBe("invalid_envelope");
    expect(inCall.message).toBe('calls[1]: unknown field "params"');
  });

  it("refuses a missing or non-array calls, and a call that is not an object or has no name", () => {
    expect(refusal({}).code).toBe("invalid_envelope");
    expect(refusal({ calls: {} }).message).toMatch(/^body\.calls: /);
    expect(refusal({ calls: [call(0), "x"] }).message).toMatch(/^calls\[1\]: /);
    expect(refusal({ calls: [{ call: "" }] }).message).toMatch(/^calls\[0\]\.call: /);
    expect(refusal({ calls: [call(0, { reference_id: 5 })] }).message).toMatch(/^calls\[0\]\.reference_id: /);
  });

  it("refuses 0 and max+1 calls naming the maximum, and accepts exactly the maximum", () => {
    const none = refusal({ calls: [] });
    expect(none.code).toBe("invalid_call_count");
    expect(none.message).toBe("calls must contain between 1 and 5 calls; got 0.");
    const over = refusal({ calls: Array.from({ length: MAX + 1 }, (_, i) => call(i)) });
    expect(over.code).toBe("invalid_call_count");
    expect(over.message).toBe("calls must contain between 1 and 5 calls; got 6.");
    expect(refusal({ calls: [call(0), call(1)] }, 1).message).toContain("between 1 and 1 calls");
    expect(parseBatchEnvelope({ calls: Array.from({ length: MAX }, (_, i) => call(i)) }, MAX).calls).toHaveLength(MAX);
  });

  it("refuses a repeated reference_id or idempotency_key, naming the index of the repeat", () => {
    const ref = refusal({ calls: [call(0), { call: "/user", reference_id: "a" }, call(2), { call: "/user", reference_id: "a" }] });
    expect(ref.code).toBe("duplicate_reference_id");
    expect(ref.message).toBe('reference_id "a" appears more than once (calls[3]).');
    const key = refusal({ calls: [call(0, { idempotency_key: "k" }), call(1), call(2, { idempotency_key: "k" })] });
    expect(key.code).toBe("duplicate_idempotency_key");
    expect(key.message).toBe('idempotency_key "k" appears more than once (calls[2]).');
    // Calls without a reference id or key do not collide.
    expect(parseBatchEnvelope({ calls: [{ call: "/user" }, { call: "/user" }] }, MAX).calls).toHaveLength(2);
  });

  it("refuses an idempotency_key that is not 1 to 255 visible ASCII characters", () => {
    for (const bad of ["", "has space", "é", "k".repeat(256)]) {
      const e = refusal({ calls: [call(0, { idempotency_key: bad })] });
      expect(e.code).toBe("invalid_envelope");
      expect(e.message).toMatch(/^calls\[0\]\.idempotency_key: /);
    }
    expect(parseBatchEnvelope({ calls: [call(0, { idempotency_key: "k".repeat(255) })] }, MAX).calls[0].idempotency_key).toHaveLength(255);
  });

  it("requires parameters to be a JSON object", () => {
    for (const bad of [[], null, "x", 1, true]) {
      const e = refusal({ calls: [call(0, { parameters: bad })] });
      expect(e.code).toBe("invalid_envelope");
      expect(e.message).toBe("calls[0].parameters: must be a JSON object");
    }
  });

  it("keeps parameters as the very object parsed, an own __proto__ key staying data", () => {
    const body = JSON.parse('{"calls":[{"call":"/wallet/find","parameters":{"wallet_id":"w","__proto__":{"polluted":true}}}]}');
    const params = parseBatchEnvelope(body, MAX).calls[0].parameters as Record<string, unknown>;
    expect(params).toBe(body.calls[0].parameters);
    expect(Object.hasOwn(params, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect((params as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

/** An array or object `depth` levels deep, built without recursion. */
function nested(depth: number, kind: "array" | "object"): unknown {
  let v: unknown = kind === "array" ? [] : {};
  for (let d = 1; d < depth; d++) v = kind === "array" ? [1, v] : { a: 1, b: v };
  return v;
}

describe("exceedsDepth", () => {
  it("counts the outermost container as depth 1; scalars have no depth", () => {
    expect(exceedsDepth([], 1)).toBe(false);
    expect(exceedsDepth([[]], 1)).toBe(true);
    expect(exceedsDepth({ a: { b: {} } }, 3)).toBe(false);
    expect(exceedsDepth({ a: { b: {} } }, 2)).toBe(true);
    expect(exceedsDepth("x", 0)).toBe(false);
    expect(exceedsDepth(null, 0)).toBe(false);
    expect(exceedsDepth([1, "two", null, { three: 3 }], 2)).toBe(false);
  });

  it("draws the line exactly at MAX_JSON_DEPTH, for arrays and objects alike, wherever the deep branch is", () => {
    for (const kind of ["array", "object"] as const) {
      expect(exceedsDepth(nested(MAX_JSON_DEPTH, kind), MAX_JSON_DEPTH)).toBe(false);
      expect(exceedsDepth(nested(MAX_JSON_DEPTH + 1, kind), MAX_JSON_DEPTH)).toBe(true);
    }
    const wide = { first: nested(3, "object"), many: Array.from({ length: 1000 }, () => ({})), last: [nested(MAX_JSON_DEPTH, "array")] };
    expect(exceedsDepth(wide, MAX_JSON_DEPTH)).toBe(true);
  });

  it("walks 100000 levels without overflowing the stack", () => {
    for (const kind of ["array", "object"] as const) {
      const deep = nested(100_000, kind);
      expect(exceedsDepth(deep, MAX_JSON_DEPTH)).toBe(true);
      expect(exceedsDepth(deep, 100_000)).toBe(false);
      expect(exceedsDepth(deep, 99_999)).toBe(true);
    }
    const parsed = JSON.parse("[".repeat(100_000) + "]".repeat(100_000));
    expect(exceedsDepth(parsed, MAX_JSON_DEPTH)).toBe(true);
  });
});

describe("the envelope's checks without zod agree with its schemas", () => {
  // Values of every JSON type, and strings at and past each field's limits.
  const str = (n: number, ch = "a") => ch.repeat(n);
  const values: unknown[] = [
    "", "x", str(255), str(256), str(1024), str(1025), "k-1", "a b", "é", "\u0000", 0, 1.5, -1, true, false, null,
    [], ["x"], {}, { a: 1 }, JSON.parse('{"__proto__": {"x": 1}}'),
  ];
  const callKeys = ["call", "authorization", "reference_id", "parameters", "idempotency_key"];
  const envelopeKeys = ["client_id", "client_secret", "calls", "atomic"];

  /** Every object with up to two of `keys` (plus an unknown one) set to each pair of values, and a valid base. */
  function* variants(keys: string[], base: Record<string, unknown>): Generator<unknown> {
    yield base;
    yield { ...base, extra: 1 };
    yield JSON.parse(`{"__proto__": 1, ${JSON.stringify(base).slice(1)}`);
    for (const k of keys) {
      const without = { ...base };
      delete without[k];
      yield without;
      for (const v of values) yield { ...base, [k]: v };
    }
    for (const k1 of keys) for (const k2 of keys) if (k1 < k2) for (const v of values) yield { ...base, [k1]: v, [k2]: values[(values.indexOf(v) * 7 + 3) % values.length] };
    yield null;
    yield [];
    yield "call";
  }

  it("isPlainCall accepts exactly what CallSchema accepts unchanged", () => {
    let accepted = 0;
    let n = 0;
    for (const v of variants(callKeys, { call: "/wallet/find", authorization: "at_1", reference_id: "r", parameters: { wallet_id: "wal_1" }, idempotency_key: "k" })) {
      n++;
      const zod = CallSchema.safeParse(v);
      expect(isPlainCall(v), JSON.stringify(v)).toBe(zod.success);
      if (zod.success) {
        accepted++;
        expect(zod.data, JSON.stringify(v)).toEqual(v);
      }
    }
    // Both sides of the comparison were exercised.
    expect(accepted).toBeGreaterThan(20);
    expect(n - accepted).toBeGreaterThan(100);
  });

  it("isPlainEnvelope accepts exactly what EnvelopeSchema accepts unchanged", () => {
    let accepted = 0;
    let n = 0;
    for (const v of variants(envelopeKeys, { client_id: 1, client_secret: "s", calls: [], atomic: false })) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) continue;
      n++;
      const zod = EnvelopeSchema.safeParse(v);
      expect(isPlainEnvelope(v as Record<string, unknown>), JSON.stringify(v)).toBe(zod.success);
      if (zod.success) {
        accepted++;
        expect(zod.data, JSON.stringify(v)).toEqual(v);
      }
    }
    expect(accepted).toBeGreaterThan(10);
    expect(n - accepted).toBeGreaterThan(50);
  });

  it("a refused call is still described by the schema, field and index named", () => {
    expect(refusal({ calls: [call(0), { call: "/user", reference_id: str(256) }] }).message).toMatch(/^calls\[1\]\.reference_id: /);
    expect(refusal({ calls: [{ call: "/user", idempotency_key: "a b" }] }).message).toBe("calls[0].idempotency_key: must be 1 to 255 visible ASCII characters");
    expect(refusal({ calls: [{ call: "/user", extra: 1 }] }).message).toBe('calls[0]: unknown field "extra"');
    expect(refusal({ calls: [], atomic: "yes" }).message).toMatch(/^body\.atomic: /);
  });
});
