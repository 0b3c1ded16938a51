/**
 * The admin API through app.request over a real SQLite store: every operation's answer, and that
 * what it provisions works on the gateway's own surfaces.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";

const KEY = "adm_test_key_0123456789abcdef";
let gw: TestGateway;

const admin = async (method: string, path: string, body?: unknown) => {
  const res = await gw.app.request(path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { res, body: (await res.json()) as any };
};

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

beforeAll(async () => {
  gw = await makeGateway({ env: { ADMIN_API_KEY: KEY }, users: 2 });
});

describe("admin API: clients", () => {
  it("creates a client whose secret works once shown; rotating replaces it; disabling ends it", async () => {
    const created = await admin("POST", "/admin/v1/clients", { name: "Partner A" });
    expect(created.res.status).toBe(201);
    expect(created.body).toEqual({ client_id: expect.any(Number), name: "Partner A", status: "active", created_at: expect.stringMatching(ISO), client_secret: expect.stringMatching(/^cs_/) });
    expect(created.body.client_id).toBeGreaterThan(100002);
    const user = gw.creds.users[0];
    const batch = (id: number, secret: string) =>
      gw.app.request("/batch/create", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_id: id, client_secret: secret, calls: [{ call: "/user", authorization: user.access_token }] }),
      });
    expect((await batch(created.body.client_id, created.body.client_secret)).status).toBe(200);

    const rotated = await admin("POST", `/admin/v1/clients/${created.body.client_id}/rotate-secret`, {});
    expect(rotated.res.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(created.body.client_secret);
    expect((await batch(created.body.client_id, created.body.client_secret)).status).toBe(401);
    expect((await batch(created.body.client_id, rotated.body.client_secret)).status).toBe(200);

    const disabled = await admin("POST", `/admin/v1/clients/${created.body.client_id}/disable`);
    expect(disabled.res.status).toBe(200);
    expect(disabled.body).toEqual({ client_id: created.body.client_id, name: "Partner A", status: "disabled", created_at: created.body.created_at });
    const refused = await batch(created.body.client_id, rotated.body.client_secret);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as any).error).toBe("invalid_client");
  });
});

describe("admin API: users, tokens, wallets", () => {
  it("provisions a user with a token and a funded wallet that work on /v2, lists and revokes the token", async () => {
    const u = await admin("POST", "/admin/v1/users", { email: "ada@example.com", first_name: "Ada", last_name: "Lovelace" });
    expect(u.res.status).toBe(201);
    expect(u.body).toEqual({ user_id: expect.stringMatching(/^usr_/), email: "ada@example.com", first_name: "Ada", last_name: "Lovelace", created_at: expect.stringMatching(ISO) });
    const userId = u.body.user_id;

    const t = await admin("POST", `/admin/v1/users/${userId}/tokens`, { scopes: ["user:read", "wallets:read", "payments:write"] });
    expect(t.res.status).toBe(201);
    expect(t.body).toMatchObject({ token_id: expect.stringMatching(/^tok_/), user_id: userId, scopes: ["user:read", "wallets:read", "payments:write"], status: "active", expires_at: null, revoked_at: null });
    expect(t.body.access_token).toMatch(/^at_/);
    const me = await gw.call("/user", t.body.access_token);
    expect(me.res.status).toBe(200);
    expect(me.body.email).toBe("ada@example.com");

    const w = await admin("POST", `/admin/v1/users/${userId}/wallets`, { currency: "EUR" });
    expect(w.res.status).toBe(201);
    expect(w.body).toEqual({ wallet_id: expect.stringMatching(/^wal_/), user_id: userId, currency: "EUR", balance: "0.00", frozen: false, created_at: expect.stringMatching(ISO) });
    const walletId = w.body.wallet_id;

    const f = await admin("POST", `/admin/v1/wallets/${walletId}/fund`, { amount: "250.50", reason: "opening balance", idempotency_key: "fund-ada-1" });
    expect(f.res.status).toBe(200);
    expect(f.body).toEqual({ funding_id: expect.stringMatching(/^fnd_/), wallet: { ...w.body, balance: "250.50" }, amount: "250.50", currency: "EUR", reason: "opening balance", replayed: false });
    const again = await admin("POST", `/admin/v1/wallets/${walletId}/fund`, { amount: "250.50", reason: "opening balance", idempotency_key: "fund-ada-1" });
    expect(again.body).toEqual({ ...f.body, replayed: true });
    expect((await gw.call("/wallet/find", t.body.access_token, { wallet_id: walletId })).body.balance).toBe("250.50");

    const entries = await admin("GET", `/admin/v1/wallets/${walletId}/entries`);
    expect(entries.body).toEqual({
      object: "list",
      data: [{ entry_id: expect.stringMatching(/^ent_\d+$/), wallet_id: walletId, amount: "250.50", currency: "EUR", kind: "funding", ref_id: f.body.funding_id, created_at: expect.stringMatching(ISO) }],
      has_more: false,
      next_cursor: null,
    });

    const second = await admin("POST", `/admin/v1/users/${userId}/tokens`, { scopes: ["user:read"], expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const listed = await admin("GET", `/admin/v1/users/${userId}/tokens?limit=1`);
    expect(listed.body).toMatchObject({ object: "list", has_more: true, next_cursor: second.body.token_id });
    expect(listed.body.data[0].token_id).toBe(second.body.token_id);
    expect(JSON.stringify(listed.body)).not.toContain("at_");
    const rest = await admin("GET", `/admin/v1/users/${userId}/tokens?limit=1&starting_after=${second.body.token_id}`);
    expect(rest.body.data.map((x: any) => x.token_id)).toEqual([t.body.token_id]);
    expect(rest.body.has_more).toBe(false);

    const revoked = await admin("POST", `/admin/v1/tokens/${t.body.token_id}/revoke`);
    expect(revoked.res.status).toBe(200);
    expect(revoked.body).toMatchObject({ token_id: t.body.token_id, status: "revoked", revoked_at: expect.stringMatching(ISO) });
    const after = await gw.call("/user", t.body.access_token);
    expect(after.res.status).toBe(401);
    expect(after.body.error).toBe("invalid_token");
    expect((await admin("POST", `/admin/v1/tokens/${t.body.token_id}/revoke`)).body).toEqual(revoked.body);
  });

  it("writes every action to the audit log, newest first, without secrets", async () => {
    const page = await admin("GET", "/admin/v1/audit?limit=100");
    expect(page.res.status).toBe(200);
    const actions = page.body.data.map((a: any) => a.action);
    expect(actions).toEqual([
      "token.revoke",
      "token.issue",
      "wallet.fund",
      "wallet.open",
      "token.issue",
      "user.create",
      "client.disable",
      "client.rotate_secret",
      "client.create",
      "demo.seed",
    ]);
    for (const a of page.body.data.slice(0, 9)) {
      expect(a).toEqual({ audit_id: expect.stringMatching(/^aud_/), actor: expect.stringMatching(/^key:[0-9a-f]{12}$/), action: expect.any(String), target: expect.any(String), request_id: expect.any(String), created_at: expect.stringMatching(ISO), details: expect.any(Object) });
    }
    const text = JSON.stringify(page.body);
    expect(text).not.toMatch(/cs_|at_[A-Za-z0-9]/);
    expect(text).not.toContain(KEY);
    const first = await admin("GET", "/admin/v1/audit?limit=2");
    const next = await admin("GET", `/admin/v1/audit?limit=2&starting_after=${first.body.next_cursor}`);
    expect(next.body.data[0].audit_id).toBe(page.body.data[2].audit_id);
  });
});

describe("admin API: described", () => {
  it("lists every admin operation in /openapi.json with the adminKey scheme and V1Error bodies", async () => {
    const doc = (await (await gw.app.request("/openapi.json")).json()) as any;
    expect(doc.components.securitySchemes.adminKey).toMatchObject({ type: "http", scheme: "bearer" });
    const ops = [
      ["post", "/admin/v1/clients"],
      ["post", "/admin/v1/clients/{client_id}/rotate-secret"],
      ["post", "/admin/v1/clients/{client_id}/disable"],
      ["post", "/admin/v1/users"],
      ["post", "/admin/v1/users/{user_id}/tokens"],
      ["get", "/admin/v1/users/{user_id}/tokens"],
      ["post", "/admin/v1/tokens/{token_id}/revoke"],
      ["post", "/admin/v1/users/{user_id}/wallets"],
      ["post", "/admin/v1/wallets/{wallet_id}/fund"],
      ["post", "/admin/v1/wallets/{wallet_id}/freeze"],
      ["post", "/admin/v1/wallets/{wallet_id}/unfreeze"],
      ["get", "/admin/v1/wallets/{wallet_id}/entries"],
      ["get", "/admin/v1/audit"],
    ];
    for (const [method, path] of ops) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.security).toEqual([{ adminKey: [] }]);
      expect(op.responses["401"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/V1Error" });
    }
    const fund = doc.paths["/admin/v1/wallets/{wallet_id}/fund"].post.requestBody.content["application/json"].schema;
    expect(fund.required).toEqual(expect.arrayContaining(["amount", "reason", "idempotency_key"]));
  });
});
