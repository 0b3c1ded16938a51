import Database from "better-sqlite3";
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { SCOPES } from "../../src/core/call-contract.js";
import { newSecret } from "../../src/core/secrets.js";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeEach(async () => {
  gw = await makeGateway({ users: 3, file: true });
});

function post(body: unknown, headers: Record<string, string> = {}) {
  return gw.app.request("/batch/create", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

function payCall(ref = "p") {
  const [a, b] = gw.creds.users;
  return {
    call: "/payment/create",
    authorization: a.access_token,
    reference_id: ref,
    parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount: "5.00", currency: "USD" },
  };
}

describe("POST /batch/create (security)", () => {
  it("401s the whole batch for an unknown client, a wrong secret, or no credentials, running nothing", async () => {
    const [c] = gw.creds.clients;
    const before = await gw.balances();
    const attempts = [
      { client_id: 999999, client_secret: c.client_secret, calls: [payCall()] },
      { client_id: c.client_id, client_secret: c.client_secret + "x", calls: [payCall()] },
      { client_id: c.client_id, client_secret: gw.creds.clients[1].client_secret, calls: [payCall()] },
      { client_id: "99999999999999999999", client_secret: "s", calls: [payCall()] },
      { calls: [payCall()] },
    ];
    for (const body of attempts) {
      const res = await post(body);
      expect(res.status).toBe(401);
      const out = (await res.json()) as any;
      expect(out.error).toBe("invalid_client");
      expect(JSON.stringify(out)).not.toContain(c.client_secret);
    }
    const basicWrong = await post({ calls: [payCall()] }, { authorization: `Basic ${btoa(`${c.client_id}:nope`)}` });
    expect(basicWrong.status).toBe(401);
    const mismatch = await post({ client_id: c.client_id, client_secret: c.client_secret, calls: [payCall()] }, {
      authorization: `Basic ${btoa(`${gw.creds.clients[1].client_id}:${gw.creds.clients[1].client_secret}`)}`,
    });
    expect(mismatch.status).toBe(401);
    expect(await gw.balances()).toEqual(before);
  });

  it("authorizes each call with its own token: a bad or missing token fails only its call", async () => {
    const [a] = gw.creds.users;
    const { body } = await gw.batch([
      { call: "/user", authorization: a.access_token, reference_id: "good" },
      { call: "/user", authorization: "at_forged", reference_id: "forged" },
      { call: "/user", reference_id: "none" },
      { call: "/user", authorization: "", reference_id: "empty" },
      { call: "/user", authorization: a.access_token, reference_id: "good2" },
    ]);
    expect(body.calls.map((c: any) => [c.reference_id, c.status, c.response.error])).toEqual([
      ["good", 200, undefined],
      ["forged", 401, "invalid_token"],
      ["none", 401, "missing_authorization"],
      ["empty", 401, "missing_authorization"],
      ["good2", 200, undefined],
    ]);
  });

  it("enforces each handler's scope per call", async () => {
    const [a] = gw.creds.users;
    const readOnly = newSecret("at_");
    await gw.services.store.tokens.createToken({
      tokenHash: nodeHasher.sha256Hex(readOnly) as string,
      userId: a.user_id,
      scopes: ["wallets:read"],
      expiresAt: null,
      revoked: false,
      createdAt: Date.now(),
    });
    const before = await gw.balances();
    const { body } = await gw.batch([
      { call: "/wallet/list", authorization: readOnly, reference_id: "list" },
      { ...payCall("pay"), authorization: readOnly },
      { call: "/user", authorization: readOnly, reference_id: "user" },
      { call: "/payout/find", authorization: readOnly, reference_id: "payout", parameters: { payout_id: "po_x" } },
    ]);
    expect(body.calls.map((c: any) => c.status)).toEqual([200, 403, 403, 403]);
    expect(body.calls[1].response).toMatchObject({ error: "insufficient_scope", error_description: expect.stringContaining("payments:write") });
    expect(await gw.balances()).toEqual(before);
  });

  it("rejects expired and revoked tokens", async () => {
    const [a] = gw.creds.users;
    const expired = newSecret("at_");
    const revoked = newSecret("at_");
    const base = { userId: a.user_id, scopes: [...SCOPES], createdAt: Date.now() };
    await gw.services.store.tokens.createToken({ ...base, tokenHash: nodeHasher.sha256Hex(expired) as string, expiresAt: Date.now() - 1000, revoked: false });
    await gw.services.store.tokens.createToken({ ...base, tokenHash: nodeHasher.sha256Hex(revoked) as string, expiresAt: null, revoked: true });
    const { body } = await gw.batch([
      { call: "/user", authorization: expired },
      { call: "/user", authorization: revoked },
    ]);
    expect(body.calls.map((c: any) => c.response.error)).toEqual(["invalid_token", "invalid_token"]);
  });

  it("treats someone else's wallet, payment and payout as not_found", async () => {
    const [a, b] = gw.creds.users;
    const before = await gw.balances();
    const { body } = await gw.batch([
      { call: "/wallet/find", authorization: a.access_token, reference_id: "w", parameters: { wallet_id: b.wallets[0].wallet_id } },
      {
        call: "/payment/create",
        authorization: a.access_token,
        reference_id: "steal",
        parameters: { from_wallet_id: b.wallets[0].wallet_id, to_wallet_id: a.wallets[0].wallet_id, amount: "5.00", currency: "USD" },
      },
      {
        call: "/payout/create",
        authorization: a.access_token,
        reference_id: "po",
        parameters: { wallet_id: b.wallets[0].wallet_id, amount: "5.00", currency: "USD", rail: "paypal", destination: { email: "a@example.com" } },
      },
    ]);
    expect(body.calls.map((c: any) => [c.status, c.response.error])).toEqual([
      [404, "not_found"],
      [404, "not_found"],
      [404, "not_found"],
    ]);
    expect(await gw.balances()).toEqual(before);
  });

  it("stores only hashes of client secrets and access tokens", async () => {
    const dump = new Database(gw.sqliteFile, { readonly: true });
    const all = JSON.stringify([
      dump.prepare("SELECT * FROM clients").all(),
      dump.prepare("SELECT * FROM tokens").all(),
    ]);
    dump.close();
    for (const c of gw.creds.clients) expect(all).not.toContain(c.client_secret);
    for (const u of gw.creds.users) expect(all).not.toContain(u.access_token);
    expect(all).toContain(nodeHasher.sha256Hex(gw.creds.users[0].access_token) as string);
    // The whole database file, WAL included, never holds a plaintext secret either.
    const bytes = readFileSync(gw.sqliteFile).toString("latin1") + readFileSync(`${gw.sqliteFile}-wal`, { flag: "a+" }).toString("latin1");
    expect(bytes).not.toContain(gw.creds.users[0].access_token);
    expect(bytes).not.toContain(gw.creds.clients[0].client_secret);
  });

  it("never writes a secret or token to a log line or an error body, even when a call fails", async () => {
    const [c] = gw.creds.clients;
    const [a] = gw.creds.users;
    const bad = await post({ client_id: c.client_id, client_secret: "wrong-secret-value", calls: [] });
    const badBody = await bad.text();
    const { body } = await gw.batch([
      { call: "/user", authorization: a.access_token },
      { call: "/user", authorization: "at_not_a_real_token_value" },
      { call: "/nope", authorization: a.access_token },
    ]);
    const single = await gw.call("/wallet/find", a.access_token, { wallet_id: "wal_nope" });
    const everything = gw.logs.join("\n") + badBody + JSON.stringify(body) + JSON.stringify(single.body);
    expect(gw.logs.length).toBeGreaterThan(2);
    for (const secret of [c.client_secret, a.access_token, "wrong-secret-value", "at_not_a_real_token_value"]) {
      expect(everything).not.toContain(secret);
    }
  });
});
