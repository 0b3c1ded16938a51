/**
 * "Send anything without breaking it": seeded random mutations of valid requests (wrong types,
 * missing and extra fields, odd values, huge strings, deep nesting, broken JSON) against every
 * POST endpoint. No answer may be a 5xx, no call result a 500, and no money may appear or vanish.
 */
import { describe, expect, it } from "vitest";
import { makeGateway, sum } from "../helpers/gateway.js";

function prng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const ODD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e21, -0, "", " ", "0", "-1.00", "1.001", "NaN", "Infinity", "1e3",
  "x".repeat(70_000), "\u0000", "🙂", "<script>", "wal_", "pay_../../etc", [], [1, 2], {}, { a: { b: { c: [] } } },
  JSON.parse('{"__proto__":{"polluted":true}}'), { constructor: { prototype: { polluted: true } } },
];

describe("fuzzing the public endpoints", () => {
  it("never answers 5xx and never loses or makes money, whatever the input", async () => {
    const gw = await makeGateway({ users: 3, env: { TOKEN_RATE_LIMIT_POINTS: "100000", CLIENT_RATE_LIMIT_POINTS: "1000000" } });
    const [a, b] = gw.creds.users;
    const c = gw.creds.clients[0];
    const before = sum(await gw.balances());
    const rnd = prng(20261121);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const calls = () => [
      { call: "/payment/create", authorization: a.access_token, reference_id: "p", parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount: "1.00", currency: "USD" } },
      { call: "/payout/create", authorization: a.access_token, reference_id: "o", parameters: { wallet_id: a.wallets[0].wallet_id, amount: "1.00", currency: "USD", rail: "paypal", destination: { email: "x@example.com" } } },
      { call: "/wallet/find", authorization: b.access_token, reference_id: "w", parameters: { wallet_id: b.wallets[0].wallet_id } },
      { call: "/payment/reverse", authorization: a.access_token, reference_id: "r", parameters: { payment_id: "pay_x" } },
    ];

    // Replace, delete or add something at a random place in a JSON value.
    function mutate(value: unknown, depth = 0): unknown {
      if (depth > 3 || typeof value !== "object" || value === null || rnd() < 0.3) return rnd() < 0.5 ? pick(ODD_VALUES) : value;
      if (Array.isArray(value)) {
        const copy = [...value];
        if (copy.length && rnd() < 0.7) {
          const i = Math.floor(rnd() * copy.length);
          copy[i] = mutate(copy[i], depth + 1);
        } else copy.push(pick(ODD_VALUES));
        return copy;
      }
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      const keys = Object.keys(copy);
      const r = rnd();
      if (keys.length && r < 0.6) {
        const k = pick(keys);
        copy[k] = mutate(copy[k], depth + 1);
      } else if (keys.length && r < 0.8) delete copy[pick(keys)];
      else copy[pick(["extra", "atomic", "__proto__", "constructor", "calls", "parameters"])] = pick(ODD_VALUES);
      return copy;
    }

    let bodies = 0;
    for (let i = 0; i < 400; i++) {
      const envelope = { client_id: c.client_id, client_secret: c.client_secret, calls: calls() };
      let text = JSON.stringify(mutate(envelope));
      if (rnd() < 0.1) text = text.slice(0, Math.floor(rnd() * text.length)); // broken JSON
      const headers: Record<string, string> = { "content-type": rnd() < 0.95 ? "application/json" : pick(["text/plain", "application/x-www-form-urlencoded", ""]) };
      if (rnd() < 0.2) headers["idempotency-key"] = pick(["k1", "k2", "", "x".repeat(300), "ключ"].filter((k) => /^[\x20-\x7e]*$/.test(k)));
      const path = pick(["/batch/create", "/v2/batch/create"]);
      const res = await gw.app.request(path, { method: "POST", headers, body: text });
      expect(res.status, `${path} ${text.slice(0, 200)}`).toBeLessThan(500);
      const out = (await res.json()) as any;
      if (res.status === 200) {
        for (const r of out.calls) expect(r.status, JSON.stringify(r).slice(0, 300)).not.toBe(500);
      } else {
        expect(out).toMatchObject({ error: expect.any(String), error_code: expect.any(Number), request_id: expect.any(String) });
      }

      const single = pick(calls());
      const params = mutate(single.parameters);
      const sres = await gw.app.request(`/v2${single.call}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${single.authorization}` },
        body: JSON.stringify(params),
      });
      expect(sres.status, `${single.call} ${JSON.stringify(params).slice(0, 200)}`).toBeLessThan(500);
      bodies += 2;
    }
    expect(bodies).toBe(800);
    expect(({} as any).polluted).toBeUndefined();
    // Money only moved by the valid payments and payouts among them: wallets plus what left
    // through rails equals what was funded.
    const audit = await gw.services.store.ledger.audit();
    expect(audit.entrySum).toBe(0);
    expect(audit.mismatchedWallets).toEqual([]);
    const leftThroughRails = Object.entries(audit.systemAccounts)
      .filter(([k]) => k.startsWith("system:rail:") || k === "system:payouts_in_flight")
      .reduce((s, [, v]) => s + v, 0);
    expect(sum(await gw.balances()) + leftThroughRails).toBe(before);
  }, 120_000);
});
