import { beforeEach, describe, expect, it } from "vitest";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeEach(async () => {
  gw = await makeGateway({ users: 3 });
});

describe("POST /v2/<call>", () => {
  it("runs every built-in call alone with a Bearer token, same answers as in a batch", async () => {
    const [a, b] = gw.creds.users;
    const wal = a.wallets[0].wallet_id;
    expect((await gw.call("/user", a.access_token)).body.user_id).toBe(a.user_id);
    expect((await gw.call("/wallet/list", a.access_token, {})).body.wallets).toHaveLength(1);
    const find = await gw.call("/wallet/find", a.access_token, { wallet_id: wal });
    expect(find.res.status).toBe(200);
    expect(find.body).toMatchObject({ wallet_id: wal, balance: "1000.00", currency: "USD" });

    const pay = await gw.call("/payment/create", a.access_token, { from_wallet_id: wal, to_wallet_id: b.wallets[0].wallet_id, amount: "2.50", currency: "USD" });
    expect(pay.res.status).toBe(200);
    const paymentId = pay.body.payment_id;
    expect((await gw.call("/payment/find", a.access_token, { payment_id: paymentId })).body.amount).toBe("2.50");
    expect((await gw.call("/payment/reverse", a.access_token, { payment_id: paymentId })).body.status).toBe("reversed");

    const po = await gw.call("/payout/create", a.access_token, { wallet_id: wal, amount: "3.15", currency: "USD", rail: "ach", destination: { routing_number: "021000021", account_number: "12345678" } });
    expect(po.body.status).toBe("pending");
    expect((await gw.call("/payout/find", a.access_token, { payout_id: po.body.payout_id })).body.status).toBe("pending");
    expect((await gw.call("/payout/cancel", a.access_token, { payout_id: po.body.payout_id })).body.status).toBe("cancelled");
    expect((await gw.call("/wallet/find", a.access_token, { wallet_id: wal })).body.balance).toBe("1000.00");

    // Same call in a batch gives the same body.
    const batched = await gw.batch([{ call: "/wallet/find", authorization: a.access_token, parameters: { wallet_id: wal } }]);
    expect(batched.body.calls[0].response).toEqual((await gw.call("/wallet/find", a.access_token, { wallet_id: wal })).body);
  });

  it("answers errors with the call's status and the classic body plus a request id", async () => {
    const [a] = gw.creds.users;
    const none = await gw.call("/user", null);
    expect(none.res.status).toBe(401);
    expect(none.body).toMatchObject({ error: "missing_authorization", error_code: 2002, request_id: expect.stringMatching(/^req_/) });
    expect((await gw.call("/user", "at_bogus")).res.status).toBe(401);
    const unknown = await gw.call("/checkout/create", a.access_token, {});
    expect(unknown.res.status).toBe(404);
    expect(unknown.body.error).toBe("unknown_call");
    const bad = await gw.call("/wallet/find", a.access_token, { wallet_id: 5 });
    expect(bad.res.status).toBe(400);
    expect(bad.body.error_description).toMatch(/^parameters\.wallet_id/);
    const basic = await gw.app.request("/v2/user", { method: "POST", headers: { authorization: "Basic Zm9vOmJhcg==" } });
    expect(basic.status).toBe(401);
    const badType = await gw.app.request("/v2/user", { method: "POST", headers: { authorization: `Bearer ${a.access_token}`, "content-type": "text/plain" }, body: "{}" });
    expect(badType.status).toBe(415);
    const notJson = await gw.app.request("/v2/user", { method: "POST", headers: { authorization: `Bearer ${a.access_token}`, "content-type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
    const arr = await gw.app.request("/v2/user", { method: "POST", headers: { authorization: `Bearer ${a.access_token}`, "content-type": "application/json" }, body: "[]" });
    expect(((await arr.json()) as any).error).toBe("invalid_body");
    const big = await gw.app.request("/v2/user", { method: "POST", headers: { authorization: `Bearer ${a.access_token}`, "content-type": "application/json" }, body: JSON.stringify({ x: "y".repeat(2 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    const get = await gw.app.request("/v2/user", { headers: { authorization: `Bearer ${a.access_token}` } });
    expect(get.status).toBe(404);
  });
});
