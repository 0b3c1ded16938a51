/**
 * The typed client (src/client) against the real Node server on loopback: a batch with HTTP Basic
 * and an Idempotency-Key (replayed the second time), typed single calls, and the gateway's
 * refusals surfacing as BatchgateError with the catalog code.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatchgateError, createClient } from "../../src/client/index.js";
import type { DemoCredentials } from "../../src/demo-data.js";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";

let server: RunningServer;
let creds: DemoCredentials;

beforeAll(async () => {
  const dataDir = tempDir();
  server = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "2" });
  creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
}, 60_000);
afterAll(async () => {
  await server?.stop("SIGKILL");
});

describe("typed client", () => {
  it("runs a batch, replays it under the same key, and makes typed single calls", async () => {
    const gw = createClient(server.base);
    const [a, b] = creds.users;
    const client = creds.clients[0];
    const from = a.wallets[0].wallet_id;
    const to = b.wallets[0].wallet_id;
    const calls = [
      { call: "/payment/create", authorization: a.access_token, reference_id: "pay", parameters: { from_wallet_id: from, to_wallet_id: to, amount: "12.50", currency: "USD" } },
      { call: "/wallet/find", authorization: a.access_token, reference_id: "mine", parameters: { wallet_id: to } },
    ];
    const first = await gw.batch({ clientId: Number(client.client_id), clientSecret: client.client_secret, calls }, { idempotencyKey: "client-batch-1", requestId: "client-req-1" });
    expect(first.replayed).toBe(false);
    expect(first.request_id).toBe("client-req-1");
    expect(first.calls.map((c) => [c.reference_id, c.status])).toEqual([["pay", 200], ["mine", 404]]);
    expect(first.calls[1].response).toMatchObject({ error: "not_found", error_code: 3001 });

    const again = await gw.batch({ clientId: Number(client.client_id), clientSecret: client.client_secret, calls }, { idempotencyKey: "client-batch-1" });
    expect(again.replayed).toBe(true);
    expect(again.calls).toEqual(first.calls);

    // Paid once: 1000.00 - 12.50.
    const wallet = await gw.call("/wallet/find", a.access_token, { wallet_id: from });
    const balance: string = wallet.balance;
    expect(balance).toBe("987.50");
    const me = await gw.call("/user", a.access_token, {});
    expect(me.user_id).toBe(a.user_id);
    const list = await gw.call("/wallet/list", b.access_token);
    expect(list.wallets.map((w) => w.balance)).toEqual(["1012.50"]);
    expect(await gw.ready()).toBe(true);
  });

  it("surfaces the gateway's refusals as BatchgateError with the catalog code", async () => {
    const gw = createClient(`${server.base}/`);
    const client = creds.clients[0];
    const wrong = await gw.batch({ clientId: Number(client.client_id), clientSecret: "cs_wrong", calls: [{ call: "/user" }] }).catch((e) => e);
    expect(wrong).toBeInstanceOf(BatchgateError);
    expect(wrong).toMatchObject({ status: 401, code: "invalid_client", errorCode: 2001, requestId: expect.stringMatching(/^req_/) });

    const bad = await gw.call("/wallet/find", creds.users[0].access_token, { wallet_id: "nope" }).catch((e) => e);
    expect(bad).toMatchObject({ status: 400, code: "invalid_parameters", message: expect.stringContaining("parameters.wallet_id") });
    const anonymous = await gw.call("/user", null, {}, { idempotencyKey: "k" }).catch((e) => e);
    expect(anonymous).toMatchObject({ status: 400, code: "idempotency_key_needs_identity" });
  });
});
