/**
 * The response schemas (src/handlers/shapes.ts) describe what the handlers really answer: every
 * built-in call is run through the gateway and its response parsed with its handler's schema made
 * strict, so a field added to, renamed in or missing from a view fails here.
 */
import { describe, expect, it } from "vitest";
import type { ZodObject } from "zod";
import { makeGateway } from "../helpers/gateway.js";

describe("handler response schemas", () => {
  it("every built-in call has one, and its real responses match it exactly", async () => {
    const gw = await makeGateway({ users: 2 });
    const [a, b] = gw.creds.users;
    const from = a.wallets[0].wallet_id;
    const to = b.wallets[0].wallet_id;
    const payout = (amount: string) => ({ wallet_id: from, amount, currency: "USD", rail: "paypal", destination: { email: "a@example.com" } });

    const paid = await gw.call("/payment/create", a.access_token, { from_wallet_id: from, to_wallet_id: to, amount: "1.00", currency: "USD", description: "lunch" });
    const pending = await gw.call("/payout/create", a.access_token, payout("2.15"));
    const runs: [string, unknown][] = [
      ["/user", {}],
      ["/wallet/find", { wallet_id: from }],
      ["/wallet/list", {}],
      ["/payment/find", { payment_id: paid.body.payment_id }],
      ["/payment/reverse", { payment_id: paid.body.payment_id }],
      ["/payout/create", payout("3.00")],
      ["/payout/find", { payout_id: pending.body.payout_id }],
      ["/payout/cancel", { payout_id: pending.body.payout_id }],
    ];
    const responses: Record<string, unknown[]> = { "/payment/create": [paid.body], "/payout/create": [pending.body] };
    for (const [name, params] of runs) {
      const { res, body } = await gw.call(name, a.access_token, params);
      expect(res.status, `${name}: ${JSON.stringify(body)}`).toBe(200);
      (responses[name] ??= []).push(body);
    }

    const builtIns = gw.services.handlers.all();
    expect(builtIns.map((h) => h.name).sort()).toEqual(Object.keys(responses).sort());
    for (const handler of builtIns) {
      expect(handler.response, handler.name).toBeDefined();
      const strict = (handler.response as unknown as ZodObject).strict();
      for (const body of responses[handler.name]) {
        const parsed = strict.safeParse(body);
        expect(parsed.success, `${handler.name}: ${parsed.error?.message}`).toBe(true);
      }
    }
    // Both payment states and several payout states went through the schemas.
    expect(responses["/payment/reverse"][0]).toMatchObject({ status: "reversed", reversed_at: expect.any(String) });
    expect(responses["/payout/cancel"][0]).toMatchObject({ status: "cancelled" });
  });
});
