/**
 * The admin API's refusals: off without ADMIN_API_KEY, the key itself, validation naming the
 * field, unknown resources and cursors, funding conflicts. A refusal changes nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";

const KEY = "adm_test_key_0123456789abcdef";
let gw: TestGateway;
let userId: string;
let walletId: string;

const admin = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await gw.app.request(path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { res, body: (await res.json()) as any };
};

beforeAll(async () => {
  gw = await makeGateway({ env: { ADMIN_API_KEY: KEY }, users: 1 });
  userId = gw.creds.users[0].user_id;
  walletId = gw.creds.users[0].wallets[0].wallet_id;
});

describe("admin API: off and on", () => {
  it("answers 404 route_not_found in the v1 shape everywhere under /admin/v1 when ADMIN_API_KEY is not set", async () => {
    const off = await makeGateway({ users: 0 });
    for (const [method, path] of [["POST", "/admin/v1/clients"], ["GET", "/admin/v1/audit"], ["GET", "/admin/v1/nothing"]]) {
      const res = await off.app.request(path, { method, headers: { authorization: `Bearer ${KEY}` } });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as any).error).toMatchObject({ code: "route_not_found", request_id: expect.any(String) });
    }
  });

  it("refuses a missing, wrong or non-Bearer key with 401 invalid_admin_key, and creates nothing", async () => {
    const before = (await admin("GET", "/admin/v1/audit?limit=100")).body.data.length;
    for (const authorization of [undefined, `Bearer ${KEY}x`, `Bearer ${KEY.slice(0, -1)}`, `Basic ${btoa(`admin:${KEY}`)}`, KEY]) {
      const res = await gw.app.request("/admin/v1/clients", {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ name: "x" }),
      });
      expect(res.status, String(authorization)).toBe(401);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe("invalid_admin_key");
      expect(JSON.stringify(body)).not.toContain(KEY);
    }
    expect((await admin("GET", "/admin/v1/audit?limit=100")).body.data.length).toBe(before);
  });

  it("refuses an ADMIN_API_KEY shorter than 24 characters at start, naming the variable", async () => {
    await expect(makeGateway({ env: { ADMIN_API_KEY: "short-key" } })).rejects.toThrow(/ADMIN_API_KEY/);
  });
});

describe("admin API: validation", () => {
  it("names the field of a bad body, in the v1 shape", async () => {
    const cases: [string, unknown, string][] = [
      ["/admin/v1/clients", {}, "body.name"],
      ["/admin/v1/clients", { name: "" }, "body.name"],
      ["/admin/v1/clients", { name: "x", extra: 1 }, "body.extra"],
      ["/admin/v1/users", { email: "not-an-email", first_name: "A", last_name: "B" }, "body.email"],
      [`/admin/v1/users/${userId}/tokens`, { scopes: ["user:read", "root"] }, "body.scopes.1"],
      [`/admin/v1/users/${userId}/tokens`, { scopes: [] }, "body.scopes"],
      [`/admin/v1/users/${userId}/tokens`, { scopes: ["user:read"], expires_at: "tomorrow" }, "body.expires_at"],
      [`/admin/v1/users/${userId}/tokens`, { scopes: ["user:read"], expires_at: "2001-01-01T00:00:00Z" }, "body.expires_at"],
      [`/admin/v1/users/${userId}/wallets`, { currency: "usd" }, "body.currency"],
      [`/admin/v1/users/${userId}/wallets`, { currency: "XYZ" }, "body.currency"],
      [`/admin/v1/wallets/${walletId}/fund`, { amount: 10, reason: "r", idempotency_key: "k" }, "body.amount"],
      [`/admin/v1/wallets/${walletId}/fund`, { amount: "1.001", reason: "r", idempotency_key: "k" }, "body.amount"],
      [`/admin/v1/wallets/${walletId}/fund`, { amount: "-1.00", reason: "r", idempotency_key: "k" }, "body.amount"],
      [`/admin/v1/wallets/${walletId}/fund`, { amount: "1.00", idempotency_key: "k" }, "body.reason"],
      [`/admin/v1/wallets/${walletId}/fund`, { amount: "1.00", reason: "r" }, "body.idempotency_key"],
    ];
    for (const [path, body, field] of cases) {
      const r = await admin("POST", path, body);
      expect(r.res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error, `${path} ${JSON.stringify(body)}`).toMatchObject({ code: "invalid_body", details: { field }, request_id: expect.any(String) });
    }
    expect((await gw.call("/wallet/find", gw.creds.users[0].access_token, { wallet_id: walletId })).body.balance).toBe("1000.00");
  });

  it("refuses malformed JSON, a body that is not JSON, and bad path or query values, never with a 5xx", async () => {
    expect((await admin("POST", "/admin/v1/clients", "{nope")).body.error.code).toBe("invalid_json");
    const text = await admin("POST", "/admin/v1/clients", "name=x", { "content-type": "text/plain" });
    expect(text.res.status).toBe(415);
    expect(text.body.error.code).toBe("unsupported_media_type");
    expect((await admin("POST", "/admin/v1/clients/abc/disable")).body.error).toMatchObject({ code: "invalid_body", details: { field: "param.client_id" } });
    expect((await admin("GET", `/admin/v1/wallets/${walletId}/entries?limit=0`)).body.error).toMatchObject({ code: "invalid_body", details: { field: "query.limit" } });
    expect((await admin("GET", `/admin/v1/wallets/${walletId}/entries?limit=101`)).res.status).toBe(400);
    expect((await admin("GET", "/admin/v1/audit?starting_after=aud_nothing")).body.error).toMatchObject({ code: "invalid_body", details: { field: "query.starting_after" } });
    expect((await admin("GET", `/admin/v1/users/${userId}/tokens?starting_after=tok_nothing`)).res.status).toBe(400);
  });

  it("answers not_found for unknown clients, users, tokens and wallets", async () => {
    for (const [method, path, body] of [
      ["POST", "/admin/v1/clients/999999/rotate-secret", undefined],
      ["POST", "/admin/v1/clients/999999/disable", undefined],
      ["POST", "/admin/v1/users/usr_nobody/tokens", { scopes: ["user:read"] }],
      ["GET", "/admin/v1/users/usr_nobody/tokens", undefined],
      ["POST", "/admin/v1/tokens/tok_nobody/revoke", undefined],
      ["POST", "/admin/v1/users/usr_nobody/wallets", { currency: "USD" }],
      ["POST", "/admin/v1/wallets/wal_nobody/fund", { amount: "1.00", reason: "r", idempotency_key: "nf" }],
      ["POST", "/admin/v1/wallets/wal_nobody/freeze", undefined],
      ["GET", "/admin/v1/wallets/wal_nobody/entries", undefined],
    ] as const) {
      const r = await admin(method, path, body);
      expect(r.res.status, path).toBe(404);
      expect(r.body.error.code, path).toBe("not_found");
    }
  });
});

describe("admin API: funding", () => {
  it("the same idempotency_key with another amount, wallet or reason is 422 idempotency_key_reused and credits nothing", async () => {
    const other = (await admin("POST", `/admin/v1/users/${userId}/wallets`, { currency: "USD" })).body.wallet_id;
    const first = await admin("POST", `/admin/v1/wallets/${walletId}/fund`, { amount: "5.00", reason: "bonus", idempotency_key: "reuse-me" });
    expect(first.res.status).toBe(200);
    for (const [path, body] of [
      [`/admin/v1/wallets/${walletId}/fund`, { amount: "6.00", reason: "bonus", idempotency_key: "reuse-me" }],
      [`/admin/v1/wallets/${other}/fund`, { amount: "5.00", reason: "bonus", idempotency_key: "reuse-me" }],
      [`/admin/v1/wallets/${walletId}/fund`, { amount: "5.00", reason: "other", idempotency_key: "reuse-me" }],
    ] as const) {
      const r = await admin("POST", path, body);
      expect(r.res.status).toBe(422);
      expect(r.body.error).toMatchObject({ code: "idempotency_key_reused", details: { field: "body.idempotency_key" } });
    }
    expect((await admin("GET", `/admin/v1/wallets/${other}/entries`)).body.data).toEqual([]);
    expect((await gw.call("/wallet/find", gw.creds.users[0].access_token, { wallet_id: walletId })).body.balance).toBe("1005.00");
  });

  it("20 concurrent fundings with one key credit once", async () => {
    const w = (await admin("POST", `/admin/v1/users/${userId}/wallets`, { currency: "GBP" })).body.wallet_id;
    const answers = await Promise.all(Array.from({ length: 20 }, () => admin("POST", `/admin/v1/wallets/${w}/fund`, { amount: "10.00", reason: "race", idempotency_key: "race-key" })));
    expect(answers.every((a) => a.res.status === 200)).toBe(true);
    expect(answers.filter((a) => !a.body.replayed)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body.funding_id)).size).toBe(1);
    const entries = (await admin("GET", `/admin/v1/wallets/${w}/entries`)).body.data;
    expect(entries).toHaveLength(1);
    expect(answers.every((a) => a.body.wallet.wallet_id === w)).toBe(true);
    expect(answers.filter((a) => a.body.wallet.balance === "10.00")).toHaveLength(20);
  });
});
