/**
 * A handler's fast parameter check (HandlerDef.accepts) takes only what its zod schema accepts
 * unchanged, over values of every JSON type at and past each limit: anything else goes to zod,
 * whose message names the problem.
 */
import { describe, expect, it } from "vitest";
import { lookupHandlers } from "../../src/handlers/lookups.js";

const withAccepts = lookupHandlers.filter((h) => h.accepts);

const values: unknown[] = [
  "wal_abc123", "pay_X9", "po_1", "wal_", "wal_a-b", "wal_é", `wal_${"a".repeat(60)}`, `wal_${"a".repeat(61)}`, "WAL_abc", " wal_abc", "wal_abc\n",
  "", 0, 1, true, null, [], ["wal_abc"], {}, { wallet_id: "wal_abc" },
];
const keys = ["wallet_id", "payment_id", "payout_id", "other"];

function* variants(): Generator<unknown> {
  yield {};
  yield null;
  yield [];
  yield "wal_abc";
  yield JSON.parse('{"__proto__": "wal_abc"}');
  for (const k of keys) for (const v of values) yield { [k]: v };
  for (const k1 of keys) for (const k2 of keys) if (k1 < k2) yield { [k1]: "wal_abc", [k2]: "pay_abc" };
  for (const v of values) yield { wallet_id: "wal_abc", payment_id: v };
}

describe("HandlerDef.accepts agrees with the handler's schema", () => {
  it("is declared by the lookups that have one", () => {
    expect(withAccepts.map((h) => h.name).sort()).toEqual(["/payment/find", "/payout/find", "/user", "/wallet/find", "/wallet/list"]);
  });

  it.each(withAccepts.map((h) => [h.name, h] as const))("%s: accepts exactly what its schema accepts unchanged", (_name, h) => {
    let accepted = 0;
    let n = 0;
    for (const v of variants()) {
      n++;
      const zod = h.schema.safeParse(v);
      expect(h.accepts!(v), JSON.stringify(v)).toBe(zod.success);
      if (zod.success) {
        accepted++;
        expect(zod.data, JSON.stringify(v)).toEqual(v);
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(n - accepted).toBeGreaterThan(50);
  });
});
