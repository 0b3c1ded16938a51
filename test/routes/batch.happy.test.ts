import { beforeEach, describe, expect, it } from "vitest";
import { makeGateway, sum, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeEach(async () => {
  gw = await makeGateway({ users: 4 });
});

describe("POST /batch/create (happy)", () => {
  it("runs the classic example from the /batch/create reference: /user answers, the unknown call fails alone", async () => {
    const [c] = gw.creds.clients;
    const token = gw.creds.users[0].access_token;
    // The reference example, with demo credentials in place of its placeholders.
    const body = {
      client_id: c.client_id,
      client_secret: c.client_secret,
      calls: [
        { call: "/user", authorization: token, reference_id: "1341351" },
        {
          call: "/checkout/create",
          authorization: token,
          reference_id: "23535111",
          parameters: { account_id: 12345, amount: 100, currency: "USD", short_description: "test", type: "goods" },
        },
      ],
    };
    const res = await gw.app.request("/batch/create", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    const out = (await res.json()) as any;
    expect(out.calls).toHaveLength(2);
    expect(out.calls[0]).toEqual({
      call: "/user",
      reference_id: "1341351",
      status: 200,
      response: expect.objectContaining({ user_id: gw.creds.users[0].user_id, email: expect.any(String), first_name: "Demo", last_name: expect.any(String) }),
    });
    expect(out.calls[1]).toEqual({
      call: "/checkout/create",
      reference_id: "23535111",
      status: 404,
      response: { error: "unknown_call", error_description: expect.stringContaining("/checkout/create"), error_code: 1008 },
    });
    expect(out.request_id).toMatch(/^req_/);
    expect(res.headers.get("x-request-id")).toBe(out.request_id);
  });

  it("answers the same on /v2/batch/create and with HTTP Basic client credentials", async () => {
    const [c] = gw.creds.clients;
    const u = gw.creds.users[1];
    const calls = [{ call: "/wallet/list", authorization: u.access_token, reference_id: "w" }];
    const v2 = await gw.batch(calls, {}, "/v2/batch/create");
    expect(v2.res.status).toBe(200);
    expect(v2.body.calls[0].response.wallets[0]).toMatchObject({ wallet_id: u.wallets[0].wallet_id, currency: "USD", balance: "1000.00" });

    const res = await gw.app.request("/batch/create", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}` },
      body: JSON.stringify({ calls }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.calls[0].status).toBe(200);
  });

  it("runs calls for many users in one batch, each with its own token, results in order", async () => {
    const calls = gw.creds.users.flatMap((u, i) => [
      { call: "/wallet/find", authorization: u.access_token, reference_id: `find-${i}`, parameters: { wallet_id: u.wallets[0].wallet_id } },
      { call: "/user", authorization: u.access_token, reference_id: `user-${i}` },
    ]);
    const { res, body } = await gw.batch(calls);
    expect(res.status).toBe(200);
    expect(body.calls.map((c: any) => c.reference_id)).toEqual(calls.map((c) => c.reference_id));
    gw.creds.users.forEach((u, i) => {
      expect(body.calls[2 * i].response.wallet_id).toBe(u.wallets[0].wallet_id);
      expect(body.calls[2 * i + 1].response.user_id).toBe(u.user_id);
    });
  });

  it("moves money with /payment/create and /payment/reverse, and finds both sides", async () => {
    const [a, b] = gw.creds.users;
    const before = await gw.balances();
    const pay = await gw.batch([
      {
        call: "/payment/create",
        authorization: a.access_token,
        reference_id: "p",
        parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount: "12.34", currency: "USD", description: "lunch" },
      },
    ]);
    const payment = pay.body.calls[0].response;
    expect(pay.body.calls[0].status).toBe(200);
    expect(payment).toMatchObject({ amount: "12.34", currency: "USD", status: "completed", description: "lunch" });
    let after = await gw.balances();
    expect(after[a.wallets[0].wallet_id]).toBe(before[a.wallets[0].wallet_id] - 1234);
    expect(after[b.wallets[0].wallet_id]).toBe(before[b.wallets[0].wallet_id] + 1234);

    const found = await gw.batch([
      { call: "/payment/find", authorization: a.access_token, reference_id: "payer", parameters: { payment_id: payment.payment_id } },
      { call: "/payment/find", authorization: b.access_token, reference_id: "payee", parameters: { payment_id: payment.payment_id } },
      { call: "/payment/find", authorization: gw.creds.users[2].access_token, reference_id: "stranger", parameters: { payment_id: payment.payment_id } },
    ]);
    expect(found.body.calls.map((c: any) => c.status)).toEqual([200, 200, 404]);

    const rev = await gw.batch([{ call: "/payment/reverse", authorization: a.access_token, parameters: { payment_id: payment.payment_id } }]);
    expect(rev.body.calls[0].response.status).toBe("reversed");
    expect(rev.body.calls[0].reference_id).toBeNull();
    after = await gw.balances();
    expect(after).toEqual(before);
    const again = await gw.batch([{ call: "/payment/reverse", authorization: a.access_token, parameters: { payment_id: payment.payment_id } }]);
    expect(again.body.calls[0]).toMatchObject({ status: 409, response: { error: "payment_not_reversible" } });
    expect(sum(await gw.balances())).toBe(sum(before));
  });
});
