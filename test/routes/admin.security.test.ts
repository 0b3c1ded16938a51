/**
 * What the admin API's actions do to the gateway's own surfaces: a revoked token fails at once,
 * including the calls of a batch already queued behind it; an expired token fails the same way;
 * a frozen wallet neither sends nor receives and nothing moves.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueTokenInto, makeGateway, tempDir, type TestGateway } from "../helpers/gateway.js";

const KEY = "adm_test_key_0123456789abcdef";
let gw: TestGateway;
let hook: Server;
/** Runs when the upstream /revoke-now is called, before it answers. */
let onHook: () => Promise<void> = async () => {};

const admin = async (method: string, path: string, body?: unknown) => {
  const res = await gw.app.request(path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { res, body: (await res.json()) as any };
};

beforeAll(async () => {
  // A real upstream on loopback: the first call of a batch reaches it, and it revokes a token
  // through the admin API while the batch's other calls wait in the queue.
  hook = createServer(async (req, res) => {
    for await (const _ of req);
    await onHook();
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  const file = join(tempDir(), "upstreams.json");
  writeFileSync(file, JSON.stringify({ upstreams: [{ call: "/revoke-now", url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`, auth: "none" }] }));
  gw = await makeGateway({ env: { ADMIN_API_KEY: KEY, UPSTREAMS_FILE: file, BATCH_CONCURRENCY: "1" }, users: 3 });
});

afterAll(() => new Promise<void>((r) => hook.close(() => r())));

describe("revocation and expiry", () => {
  it("a token revoked while its batch is queued fails invalid_token for every call that runs after", async () => {
    const user = gw.creds.users[0];
    const issued = await admin("POST", `/admin/v1/users/${user.user_id}/tokens`, { scopes: ["user:read"] });
    onHook = async () => {
      expect((await admin("POST", `/admin/v1/tokens/${issued.body.token_id}/revoke`)).res.status).toBe(200);
    };
    const calls = [
      { call: "/user", authorization: issued.body.access_token, reference_id: "before" },
      { call: "/revoke-now", reference_id: "hook" },
      ...Array.from({ length: 5 }, (_, i) => ({ call: "/user", authorization: issued.body.access_token, reference_id: `after-${i}` })),
    ];
    const { body } = await gw.batch(calls);
    onHook = async () => {};
    expect(body.calls[0].status).toBe(200);
    expect(body.calls[1].status).toBe(200);
    for (const r of body.calls.slice(2)) {
      expect(r.status, r.reference_id).toBe(401);
      expect(r.response.error).toBe("invalid_token");
    }
  });

  it("an expired token fails invalid_token and lists as expired", async () => {
    const user = gw.creds.users[1];
    const token = await issueTokenInto(gw.services.store, user.user_id, ["user:read"], { expiresAt: Date.now() - 1 });
    const r = await gw.call("/user", token);
    expect(r.res.status).toBe(401);
    expect(r.body.error).toBe("invalid_token");
    const listed = await admin("GET", `/admin/v1/users/${user.user_id}/tokens`);
    expect(listed.body.data.map((t: any) => t.status)).toEqual(["expired", "active"]);
  });
});

describe("frozen wallets", () => {
  it("refuse payments in and out, reversals, payouts and funding with 409 wallet_frozen, and nothing moves", async () => {
    const [a, b] = gw.creds.users;
    const aw = a.wallets[0].wallet_id;
    const bw = b.wallets[0].wallet_id;
    const paid = await gw.call("/payment/create", a.access_token, { from_wallet_id: aw, to_wallet_id: bw, amount: "10.00", currency: "USD" });
    expect(paid.res.status).toBe(200);
    const before = await gw.balances();

    const frozen = await admin("POST", `/admin/v1/wallets/${bw}/freeze`);
    expect(frozen.body).toMatchObject({ wallet_id: bw, frozen: true, balance: "1010.00" });
    const refused = [
      await gw.call("/payment/create", a.access_token, { from_wallet_id: aw, to_wallet_id: bw, amount: "1.00", currency: "USD" }),
      await gw.call("/payment/create", b.access_token, { from_wallet_id: bw, to_wallet_id: aw, amount: "1.00", currency: "USD" }),
      await gw.call("/payment/reverse", a.access_token, { payment_id: paid.body.payment_id }),
      await gw.call("/payout/create", b.access_token, { wallet_id: bw, amount: "1.00", currency: "USD", rail: "paypal", destination: { email: "b@example.com" } }),
    ];
    for (const r of refused) {
      expect(r.res.status).toBe(409);
      expect(r.body.error).toBe("wallet_frozen");
    }
    const inBatch = await gw.batch([{ call: "/payment/create", authorization: a.access_token, parameters: { from_wallet_id: aw, to_wallet_id: bw, amount: "1.00", currency: "USD" } }]);
    expect(inBatch.body.calls[0]).toMatchObject({ status: 409, response: { error: "wallet_frozen", error_code: 3009 } });
    const fund = await admin("POST", `/admin/v1/wallets/${bw}/fund`, { amount: "1.00", reason: "r", idempotency_key: "frozen-fund" });
    expect(fund.res.status).toBe(409);
    expect(fund.body.error.code).toBe("wallet_frozen");
    expect(await gw.balances()).toEqual(before);

    const thawed = await admin("POST", `/admin/v1/wallets/${bw}/unfreeze`);
    expect(thawed.body.frozen).toBe(false);
    expect((await gw.call("/payment/reverse", a.access_token, { payment_id: paid.body.payment_id })).res.status).toBe(200);
    expect((await admin("POST", `/admin/v1/wallets/${bw}/fund`, { amount: "1.00", reason: "r", idempotency_key: "frozen-fund" })).res.status).toBe(200);
  });
});
