import { beforeEach, describe, expect, it } from "vitest";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeEach(async () => {
  gw = await makeGateway({ users: 3 });
});

const raw = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  gw.app.request("/batch/create", { method: "POST", headers, body });

function payCall(i = 0, amount: unknown = "1.00", ref = `p${i}`) {
  const [a, b] = gw.creds.users;
  return {
    call: "/payment/create",
    authorization: a.access_token,
    reference_id: ref,
    parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount, currency: "USD" },
  };
}

async function expectClassicError(res: Response, status: number, error: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as any;
  expect(body).toMatchObject({ error, error_description: expect.any(String), error_code: expect.any(Number), request_id: expect.any(String) });
  return body;
}

describe("POST /batch/create (errors): the envelope is all or nothing", () => {
  it("rejects malformed JSON, non-objects, an empty body and a wrong content type", async () => {
    await expectClassicError(await raw("{ not json"), 400, "invalid_json");
    await expectClassicError(await raw("[1,2]"), 400, "invalid_body");
    await expectClassicError(await raw('"calls"'), 400, "invalid_body");
    await expectClassicError(await raw("null"), 400, "invalid_body");
    await expectClassicError(await raw(""), 400, "invalid_json");
    await expectClassicError(await raw("{}", { "content-type": "text/plain" }), 415, "unsupported_media_type");
    await expectClassicError(await raw("{}", {}), 415, "unsupported_media_type");
  });

  it("rejects JSON nested deeper than 32 levels as a bad body, with or without an idempotency key", async () => {
    const c = gw.creds.clients[0];
    const u = gw.creds.users[0];
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const body = `{"client_id":${c.client_id},"client_secret":"${c.client_secret}","calls":[{"call":"/user","authorization":"${u.access_token}","parameters":{"x":${deep}}}]}`;
    for (const extra of [{}, { "idempotency-key": "deep-1" }] as Record<string, string>[]) {
      const res = await raw(body, { "content-type": "application/json", ...extra });
      const out = await expectClassicError(res, 400, "invalid_body");
      expect(out.error_description).toMatch(/deeper than 32/);
      const single = await gw.app.request("/v2/user", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${u.access_token}`, ...extra }, body: `{"x":${deep}}` });
      await expectClassicError(single, 400, "invalid_body");
    }
    // Exactly 32 levels (body, calls, call, parameters, then 28 arrays) is fine: the call then
    // fails on its own schema, as a result.
    const ok = "[".repeat(28) + "]".repeat(28);
    const fine = await raw(`{"client_id":${c.client_id},"client_secret":"${c.client_secret}","calls":[{"call":"/user","authorization":"${u.access_token}","parameters":{"x":${ok}}}]}`);
    expect(fine.status).toBe(200);
    const one = "[".repeat(29) + "]".repeat(29);
    const tooDeep = await raw(`{"client_id":${c.client_id},"client_secret":"${c.client_secret}","calls":[{"call":"/user","authorization":"${u.access_token}","parameters":{"x":${one}}}]}`);
    expect(tooDeep.status).toBe(400);
  });

  it("rejects 0 and MAX_CALLS+1 calls, and duplicate reference ids, running nothing", async () => {
    const before = await gw.balances();
    const empty = await gw.batch([]);
    expect(empty.res.status).toBe(400);
    expect(empty.body).toMatchObject({ error: "invalid_call_count", error_description: expect.stringMatching(/between 1 and 50/) });
    const tooMany = await gw.batch(Array.from({ length: 51 }, (_, i) => payCall(i)));
    expect(tooMany.res.status).toBe(400);
    expect(tooMany.body.error).toBe("invalid_call_count");
    const dup = await gw.batch([payCall(0, "1.00", "same"), payCall(1, "1.00", "same")]);
    expect(dup.res.status).toBe(400);
    expect(dup.body).toMatchObject({ error: "duplicate_reference_id", error_description: expect.stringContaining("same") });
    expect(await gw.balances()).toEqual(before);
  });

  it("accepts exactly MAX_CALLS calls", async () => {
    const u = gw.creds.users[0];
    const calls = Array.from({ length: 50 }, (_, i) => ({ call: "/user", authorization: u.access_token, reference_id: String(i) }));
    const { res, body } = await gw.batch(calls);
    expect(res.status).toBe(200);
    expect(body.calls).toHaveLength(50);
  });

  it("rejects a body over 1 MiB with 413 and runs nothing", async () => {
    const before = await gw.balances();
    const calls = [payCall(0), { call: "/user", reference_id: "big", parameters: { pad: "x".repeat(1024 * 1024) } }];
    const c = gw.creds.clients[0];
    const res = await raw(JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls }));
    await expectClassicError(res, 413, "body_too_large");
    // A declared Content-Length over the limit is refused before the body is read.
    const declared = await raw("{}", { "content-type": "application/json", "content-length": String(2 * 1024 * 1024) });
    await expectClassicError(declared, 413, "body_too_large");
    expect(await gw.balances()).toEqual(before);
  });

  it("rejects a malformed call anywhere in the envelope and runs none of the others", async () => {
    const before = await gw.balances();
    const bad: unknown[] = [
      { reference_id: "no-call-name" },
      { call: 42 },
      { call: "/user", reference_id: 1341351 },
      { call: "/user", authorization: ["t"] },
      { call: "/user", parameters: "not-an-object" },
      { call: "/user", parameters: [1, 2] },
      { call: "/user", unexpected: true },
      "not-an-object",
      { call: "x".repeat(5000) },
    ];
    for (const b of bad) {
      const { res, body } = await gw.batch([payCall(0), b]);
      expect(res.status, JSON.stringify(b).slice(0, 80)).toBe(400);
      expect(body.error).toBe("invalid_envelope");
      expect(body.error_description).toMatch(/^calls\[1\]/);
    }
    const top = await gw.batch([payCall(0)], { atomic: "yes" });
    expect(top.res.status).toBe(400);
    expect(top.body.error_description).toContain("atomic");
    expect(await gw.balances()).toEqual(before);
  });

  it("rejects a non-integer client_id and a non-string client_secret as bad envelopes", async () => {
    const c = gw.creds.clients[0];
    let res = await raw(JSON.stringify({ client_id: { $gt: 0 }, client_secret: c.client_secret, calls: [] }));
    await expectClassicError(res, 400, "invalid_envelope");
    res = await raw(JSON.stringify({ client_id: c.client_id, client_secret: 12345, calls: [] }));
    await expectClassicError(res, 400, "invalid_envelope");
  });

  it("turns bad parameters into that call's error naming the field, and the rest still run", async () => {
    const u = gw.creds.users[0];
    const cases: [unknown, RegExp][] = [
      [1.5, /parameters\.amount: must be a decimal string/],
      ["-1.00", /parameters\.amount/],
      ["1.001", /parameters\.amount: has more than 2 decimal places/],
      ["0.00", /parameters\.amount: must be greater than zero/],
      ["1e2", /parameters\.amount/],
      ["99999999999999.00", /parameters\.amount: is larger than the maximum/],
      ["x".repeat(100_000), /parameters\.amount/],
    ];
    const calls = [
      ...cases.map(([amount], i) => payCall(i, amount)),
      { call: "/wallet/find", authorization: u.access_token, reference_id: "ok", parameters: { wallet_id: u.wallets[0].wallet_id } },
      { call: "/wallet/find", authorization: u.access_token, reference_id: "nostr", parameters: { wallet_id: 12 } },
      { call: "/wallet/find", authorization: u.access_token, reference_id: "missing", parameters: {} },
      { call: "/wallet/find", authorization: u.access_token, reference_id: "proto", parameters: JSON.parse('{"wallet_id":"wal_x","__proto__":{"admin":true}}') },
      { call: "/wallet/find", authorization: u.access_token, reference_id: "ctor", parameters: { wallet_id: "wal_x", constructor: { prototype: {} } } },
      { call: "/payment/create", authorization: u.access_token, reference_id: "cur", parameters: { ...payCall().parameters, currency: "usd" } },
      { call: "/payment/create", authorization: u.access_token, reference_id: "xxx", parameters: { ...payCall().parameters, currency: "XXX" } },
    ];
    const before = await gw.balances();
    const { res, body } = await gw.batch(calls);
    expect(res.status).toBe(200);
    cases.forEach(([, re], i) => {
      expect(body.calls[i].status).toBe(400);
      expect(body.calls[i].response.error).toBe("invalid_parameters");
      expect(body.calls[i].response.error_description).toMatch(re);
    });
    const byRef = Object.fromEntries(body.calls.map((c: any) => [c.reference_id, c]));
    expect(byRef.ok.status).toBe(200);
    expect(byRef.nostr.response.error_description).toMatch(/^parameters\.wallet_id: /);
    expect(byRef.missing.response.error_description).toMatch(/^parameters\.wallet_id: /);
    expect(byRef.proto.response.error_description).toMatch(/unknown field "__proto__"/);
    expect(byRef.ctor.response.error_description).toMatch(/unknown field "constructor"/);
    expect(byRef.cur.response.error_description).toMatch(/^parameters\.currency: /);
    expect(byRef.xxx.response.error_description).toMatch(/not a supported currency/);
    expect(({} as any).admin).toBeUndefined();
    expect(await gw.balances()).toEqual(before);
  });

  it("reports business failures per call: insufficient funds, same wallet, currency", async () => {
    const [a, b] = gw.creds.users;
    const { body } = await gw.batch([
      payCall(0, "1000.01"),
      { ...payCall(1), parameters: { ...payCall().parameters, to_wallet_id: a.wallets[0].wallet_id } },
      { ...payCall(2), parameters: { ...payCall().parameters, to_wallet_id: "wal_doesnotexist" } },
      payCall(3, "1000.00"),
    ]);
    expect(body.calls[0]).toMatchObject({ status: 422, response: { error: "insufficient_funds" } });
    expect(body.calls[1]).toMatchObject({ status: 422, response: { error: "same_wallet" } });
    expect(body.calls[2]).toMatchObject({ status: 404, response: { error: "not_found" } });
    expect(body.calls[3].status).toBe(200);
    const bal = await gw.balances();
    expect(bal[a.wallets[0].wallet_id]).toBe(0);
    expect(bal[b.wallets[0].wallet_id]).toBe(200_000);
  });

  it("answers unknown routes and methods with a catalog error, never a 5xx", async () => {
    await expectClassicError(await gw.app.request("/nope"), 404, "route_not_found");
    await expectClassicError(await gw.app.request("/batch/create"), 404, "route_not_found");
  });
});
