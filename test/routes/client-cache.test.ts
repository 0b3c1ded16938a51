/**
 * Batches verified from the client cache (Authenticator.verifyBatchClient) through app.request
 * over a real SQLite store: a rotation or a disabling through the admin API refuses the very next
 * batch, before any of its calls runs.
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

beforeAll(async () => {
  gw = await makeGateway({ env: { ADMIN_API_KEY: KEY }, users: 2 });
});

describe("client cache", () => {
  it("a client whose batches are verified from the client cache is refused on its next batch after rotation or disabling, and that batch moves no money", async () => {
    const created = (await admin("POST", "/admin/v1/clients", { name: "Cached" })).body;
    const [payer, payee] = gw.creds.users;
    const pay = (secret: string) =>
      gw.app.request("/batch/create", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          client_id: created.client_id,
          client_secret: secret,
          calls: [{ call: "/payment/create", authorization: payer.access_token, parameters: { from_wallet_id: payer.wallets[0].wallet_id, to_wallet_id: payee.wallets[0].wallet_id, amount: "0.01", currency: "USD" } }],
        }),
      });
    // Three batches: the later ones are verified from the cache.
    for (let i = 0; i < 3; i++) expect((await pay(created.client_secret)).status).toBe(200);
    const before = await gw.balances();
    const rotated = (await admin("POST", `/admin/v1/clients/${created.client_id}/rotate-secret`, {})).body;
    const old = await pay(created.client_secret);
    expect(old.status).toBe(401);
    expect(((await old.json()) as any).error).toBe("invalid_client");
    expect(await gw.balances()).toEqual(before);
    for (let i = 0; i < 3; i++) expect((await pay(rotated.client_secret)).status).toBe(200);
    const paid = await gw.balances();
    expect(paid[payer.wallets[0].wallet_id]).toBe(before[payer.wallets[0].wallet_id] - 3);
    await admin("POST", `/admin/v1/clients/${created.client_id}/disable`);
    expect((await pay(rotated.client_secret)).status).toBe(401);
    expect(await gw.balances()).toEqual(paid);
  });

});
