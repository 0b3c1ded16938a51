import { beforeEach, describe, expect, it, vi } from "vitest";
import { SYSTEM_PAYOUTS_IN_FLIGHT } from "../../src/adapters/sqlite/sql-store.js";
import { makeGateway, sum, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeEach(async () => {
  gw = await makeGateway({ users: 2, env: { CALL_TIMEOUT_MS: "1000" } });
});

const destinations: Record<string, Record<string, string>> = {
  ach: { routing_number: "021000021", account_number: "000123456789" },
  card: { card_token: "ctok_abcdef123456" },
  paypal: { email: "payee@example.com" },
  venmo: { handle: "@payee" },
  check: { name: "Pat Payee", address: "1 Main St, Springfield" },
};

function payout(amount: string, rail = "paypal", ref = amount) {
  const u = gw.creds.users[0];
  return { call: "/payout/create", authorization: u.access_token, reference_id: `${rail}-${ref}`, parameters: { wallet_id: u.wallets[0].wallet_id, amount, currency: "USD", rail, destination: destinations[rail] } };
}

describe("payouts through the sandbox rail", () => {
  it("triggers every documented outcome by amount, refunding the wallet on failure", async () => {
    const wallet = gw.creds.users[0].wallets[0].wallet_id;
    const { body } = await gw.batch([payout("10.00"), payout("10.13"), payout("10.14"), payout("10.15"), payout("10.16"), payout("7.00", "check")]);
    const [done, declined, unavailable, pending, hung, check] = body.calls;
    expect(done).toMatchObject({ status: 200, response: { status: "completed", amount: "10.00", rail: "paypal" } });
    expect(declined).toMatchObject({ status: 422, response: { error: "payout_declined" } });
    expect(unavailable).toMatchObject({ status: 503, response: { error: "rail_unavailable" } });
    expect(pending).toMatchObject({ status: 200, response: { status: "pending" } });
    expect(hung).toMatchObject({ status: 504, response: { error: "call_timeout" } });
    expect(check).toMatchObject({ status: 200, response: { status: "pending", rail: "check" } });

    // Only completed and pending payouts keep money out of the wallet.
    // The timed-out rail call settles its refund after the answer; wait for it, not for a fixed time.
    await vi.waitFor(async () => expect((await gw.services.store.ledger.getWallet(wallet))!.balance).toBe(100_000 - 1000 - 1015 - 700));
    const audit = await gw.services.store.ledger.audit();
    expect(audit.systemAccounts[SYSTEM_PAYOUTS_IN_FLIGHT]).toBe(1015 + 700);
    expect(audit.entrySum).toBe(0);
    expect(audit.mismatchedWallets).toEqual([]);

    // A declined payout is recorded as failed, and findable.
    const id = /payout (po_[A-Z0-9]+)/.exec(declined.response.error_description)![1];
    const found = await gw.call("/payout/find", gw.creds.users[0].access_token, { payout_id: id });
    expect(found.body).toMatchObject({ status: "failed", failure_code: "destination_rejected" });
  });

  it("accepts every rail with its destination and rejects a destination of the wrong shape", async () => {
    const calls = Object.keys(destinations).map((rail) => payout("1.00", rail));
    const u = gw.creds.users[0];
    calls.push({ ...payout("1.00", "ach", "bad"), parameters: { ...payout("1.00", "ach").parameters, destination: { routing_number: "12", account_number: "1" } } });
    calls.push({ ...payout("1.00", "wire", "x"), parameters: { wallet_id: u.wallets[0].wallet_id, amount: "1.00", currency: "USD", rail: "wire", destination: {} } });
    const { body } = await gw.batch(calls);
    expect(body.calls.slice(0, 5).map((c: any) => c.status)).toEqual([200, 200, 200, 200, 200]);
    expect(body.calls[5].response.error_description).toMatch(/^parameters\.destination\.routing_number/);
    expect(body.calls[6].response.error).toBe("invalid_parameters");
  });

  it("cancels only pending payouts, once, and refunds", async () => {
    const u = gw.creds.users[0];
    const { body } = await gw.batch([payout("20.15"), payout("5.00")]);
    const [pending, completed] = body.calls.map((c: any) => c.response.payout_id);
    const out = await gw.batch([
      { call: "/payout/cancel", authorization: u.access_token, reference_id: "a", parameters: { payout_id: pending } },
      { call: "/payout/cancel", authorization: u.access_token, reference_id: "b", parameters: { payout_id: completed } },
    ]);
    expect(out.body.calls[0].response.status).toBe("cancelled");
    expect(out.body.calls[1]).toMatchObject({ status: 409, response: { error: "payout_not_cancellable" } });
    const again = await gw.call("/payout/cancel", u.access_token, { payout_id: pending });
    expect(again.res.status).toBe(409);
    const other = await gw.call("/payout/cancel", gw.creds.users[1].access_token, { payout_id: completed });
    expect(other.res.status).toBe(404);
    expect((await gw.services.store.ledger.getWallet(u.wallets[0].wallet_id))!.balance).toBe(100_000 - 500);
    const bal = await gw.balances();
    const audit = await gw.services.store.ledger.audit();
    expect(sum(bal)).toBe(audit.walletBalanceSum);
    expect(audit.entrySum).toBe(0);
  });

  it("never pays out more than the balance", async () => {
    const { body } = await gw.batch([payout("600.00", "paypal", "a"), payout("600.00", "paypal", "b")]);
    expect(body.calls.map((c: any) => c.status).sort()).toEqual([200, 422]);
    expect((await gw.services.store.ledger.getWallet(gw.creds.users[0].wallets[0].wallet_id))!.balance).toBe(40_000);
  });
});
