/**
 * Two gateway processes sharing one real Redis: what an operator does through instance A's admin
 * API holds on instance B from its very next request — a revoked token, a disabled client, a
 * frozen wallet.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { describeRedis, deleteRedisPrefix, REDIS_URL } from "../helpers/redis.js";

const prefix = `bgtest-admin2-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const KEY = "two-instances-admin-key-0123456789";

describeRedis("admin actions across two instances on one Redis", () => {
  let a: RunningServer;
  let b: RunningServer;
  let creds: any;
  const dirA = tempDir();

  beforeAll(async () => {
    const env = { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, DEMO_USERS: "2", ADMIN_API_KEY: KEY };
    a = await startServer({ ...env, DATA_DIR: dirA });
    b = await startServer({ ...env, DATA_DIR: tempDir() });
    creds = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8"));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    await deleteRedisPrefix(prefix);
  });

  const admin = async (s: RunningServer, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const call = async (s: RunningServer, name: string, token: string, params: unknown = {}) => {
    const res = await fetch(`${s.base}/v2${name}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(params) });
    return { status: res.status, body: (await res.json()) as any };
  };

  it("a token revoked through A fails invalid_token on B's very next call, alone and in a batch", async () => {
    const user = creds.users[0];
    const issued = (await admin(a, "POST", `/admin/v1/users/${user.user_id}/tokens`, { scopes: ["user:read"] })).body;
    // B has verified the token (and could have cached it) before the revocation.
    for (let i = 0; i < 3; i++) expect((await call(b, "/user", issued.access_token)).status).toBe(200);
    expect((await admin(a, "POST", `/admin/v1/tokens/${issued.token_id}/revoke`)).status).toBe(200);
    const next = await call(b, "/user", issued.access_token);
    expect(next.status).toBe(401);
    expect(next.body.error).toBe("invalid_token");
    const c = creds.clients[0];
    const res = await fetch(`${b.base}/batch/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/user", authorization: issued.access_token }, { call: "/user", authorization: user.access_token }] }),
    });
    const body = (await res.json()) as any;
    expect(body.calls.map((x: any) => x.status)).toEqual([401, 200]);
    expect((await admin(b, "GET", `/admin/v1/users/${user.user_id}/tokens`)).body.data.find((t: any) => t.token_id === issued.token_id).status).toBe("revoked");
  });

  it("a client disabled through A fails invalid_client on B; a wallet frozen through A refuses payments on B", async () => {
    const client = (await admin(a, "POST", "/admin/v1/clients", { name: "shared" })).body;
    const user = creds.users[1];
    const send = () =>
      fetch(`${b.base}/batch/create`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, calls: [{ call: "/user", authorization: user.access_token }] }),
      });
    // Three batches: B's later ones verify the client from its cache.
    for (let i = 0; i < 3; i++) expect((await send()).status).toBe(200);
    await admin(a, "POST", `/admin/v1/clients/${client.client_id}/disable`);
    expect((await send()).status).toBe(401);

    const [payer, payee] = creds.users;
    await admin(a, "POST", `/admin/v1/wallets/${payee.wallets[0].wallet_id}/freeze`);
    const paid = await call(b, "/payment/create", payer.access_token, { from_wallet_id: payer.wallets[0].wallet_id, to_wallet_id: payee.wallets[0].wallet_id, amount: "1.00", currency: "USD" });
    expect(paid.status).toBe(409);
    expect(paid.body.error).toBe("wallet_frozen");
    expect((await call(b, "/wallet/find", payee.access_token, { wallet_id: payee.wallets[0].wallet_id })).body.balance).toBe("1000.00");
  });
});
