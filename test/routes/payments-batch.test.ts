/**
 * POST /v1/payments/batch and GET /v1/payments/batch/{batchId} on the in-process app over a real
 * SQLite store, and `atomic: true` on /batch/create. Crash recovery and real concurrency are in
 * test/server/payments-batch.*.test.ts; the same contract over HTTP on every runtime is in
 * test/contract/payments-batch.ts.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { issueTokenInto, makeGateway, sum, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeEach(async () => {
  gw = await makeGateway({ users: 5 });
});

const u = (i: number) => gw.creds.users[i];
const w = (i: number) => u(i).wallets[0].wallet_id;

async function post(token: string | null, body: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { "content-type": "application/json", ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await gw.app.request("/v1/payments/batch", { method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { res, body: (await res.json()) as any };
}

async function get(token: string, batchId: string) {
  const res = await gw.app.request(`/v1/payments/batch/${batchId}`, { headers: { authorization: `Bearer ${token}` } });
  return { res, body: (await res.json()) as any };
}

const pay = (from: number, to: number, amount: string, extra: Record<string, unknown> = {}) => ({ from: w(from), to: w(to), amount, ...extra });

describe("POST /v1/payments/batch", () => {
  it("pays every item and answers 200 with the reference API's shape; the owner can read it back, nobody else", async () => {
    const before = await gw.balances();
    const r = await post(u(0).access_token, { payments: [pay(0, 1, "100.00", { description: "March payroll" }), pay(0, 2, "200.00"), pay(0, 3, "150.00")] });
    expect(r.res.status).toBe(200);
    expect(r.body).toEqual({
      batchId: expect.stringMatching(/^bat_/),
      results: [0, 1, 2].map((index) => ({ index, status: "success", transactionId: expect.stringMatching(/^pay_/) })),
      summary: { total: 3, succeeded: 3, failed: 0 },
    });
    const after = await gw.balances();
    expect(after[w(0)]).toBe(before[w(0)] - 45_000);
    expect(after[w(1)]).toBe(before[w(1)] + 10_000);
    expect(sum(after)).toBe(sum(before));
    const found = await gw.call("/payment/find", u(0).access_token, { payment_id: r.body.results[0].transactionId });
    expect(found.body).toMatchObject({ amount: "100.00", status: "completed", description: "March payroll" });

    const mine = await get(u(0).access_token, r.body.batchId);
    expect(mine.res.status).toBe(200);
    expect(mine.body).toEqual({ ...r.body, state: "succeeded", recovered: false });
    const theirs = await get(u(1).access_token, r.body.batchId);
    expect(theirs.res.status).toBe(404);
    expect(theirs.body).toEqual({ error: { code: "not_found", message: expect.any(String), request_id: expect.any(String), details: { field: "batchId" } } });
    expect((await get(u(0).access_token, "bat_nope")).res.status).toBe(404);
  });

  it("reverses every succeeded payment when one fails: 207 BATCH_PARTIAL_FAILURE, balances back where they were", async () => {
    const before = await gw.balances();
    const r = await post(u(0).access_token, { payments: [pay(0, 1, "100.00"), pay(0, 2, "5000.00"), pay(0, 3, "150.00")] });
    expect(r.res.status).toBe(207);
    expect(r.body).toEqual({
      batchId: expect.stringMatching(/^bat_/),
      error: { code: "BATCH_PARTIAL_FAILURE", message: "One or more payments failed. Succeeded payments have been reversed." },
      results: [
        { index: 0, status: "reversed", transactionId: expect.stringMatching(/^pay_/), reversalId: expect.stringMatching(/^rev_/) },
        { index: 1, status: "failed", error: "INSUFFICIENT_FUNDS" },
        { index: 2, status: "reversed", transactionId: expect.stringMatching(/^pay_/), reversalId: expect.stringMatching(/^rev_/) },
      ],
      summary: { total: 3, succeeded: 0, reversed: 2, failed: 1 },
    });
    expect(await gw.balances()).toEqual(before);
    for (const i of [0, 2]) {
      const p = await gw.call("/payment/find", u(0).access_token, { payment_id: r.body.results[i].transactionId });
      expect(p.body.status).toBe("reversed");
    }
    const stored = await get(u(0).access_token, r.body.batchId);
    expect(stored.body).toEqual({ ...r.body, state: "rolled_back", recovered: false });
  });

  it("flags a payment whose reversal failed (the payee spent the money) for manual action, logs it at error level", async () => {
    const ledger = gw.services.store.ledger;
    const transfer = ledger.transfer;
    // The payee spends what it received between the batch's payments: a real transfer on the
    // same ledger, made just before the batch's failing payment is asked for.
    ledger.transfer = async (req) => {
      if (req.amount === 500_000) await transfer({ ...req, paymentId: "pay_spent1", userId: u(1).user_id, fromWalletId: w(1), toWalletId: w(4), amount: 105_000 });
      return transfer(req);
    };
    try {
      const before = await gw.balances();
      const r = await post(u(0).access_token, { payments: [pay(0, 1, "100.00"), pay(0, 2, "5000.00")] });
      expect(r.res.status).toBe(207);
      expect(r.body.results).toEqual([
        { index: 0, status: "success", transactionId: expect.stringMatching(/^pay_/), manualActionRequired: true, reversalError: "INSUFFICIENT_FUNDS" },
        { index: 1, status: "failed", error: "INSUFFICIENT_FUNDS" },
      ]);
      expect(r.body.summary).toEqual({ total: 2, succeeded: 1, reversed: 0, failed: 1 });
      const after = await gw.balances();
      expect(sum(after)).toBe(sum(before));
      expect(after[w(0)]).toBe(before[w(0)] - 10_000);
      const line = gw.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "payment batch reversal failed: manual action required");
      expect(line).toMatchObject({ level: "error", index: 0, reason: "INSUFFICIENT_FUNDS", batch_id: r.body.batchId });
    } finally {
      ledger.transfer = transfer;
    }
  });

  it("validates everything before anything runs: 400 in the v1 shape naming the index and the field", async () => {
    const token = u(0).access_token;
    const cases: [unknown, number | undefined, string][] = [
      [{ payments: [pay(0, 1, "1.00"), pay(0, 2, "1.001")] }, 1, "payments[1].amount"],
      [{ payments: [pay(0, 1, "0.00")] }, 0, "payments[0].amount"],
      [{ payments: [pay(0, 1, "-1.00")] }, 0, "payments[0].amount"],
      [{ payments: [pay(0, 1, "1e3")] }, 0, "payments[0].amount"],
      [{ payments: [{ ...pay(0, 1, "1.00"), amount: 1 }] }, 0, "payments[0].amount"],
      [{ payments: [pay(0, 1, "1.00"), { ...pay(0, 2, "1.00"), to: "wal_doesnotexist" }] }, 1, "payments[1].to"],
      [{ payments: [pay(0, 1, "1.00"), pay(2, 1, "1.00")] }, 1, "payments[1].from"],
      [{ payments: [pay(0, 0, "1.00")] }, 0, "payments[0].to"],
      [{ payments: [pay(0, 1, "1.00"), { ...pay(0, 2, "1.00"), memo: "x" }] }, 1, "payments[1].memo"],
      [{ payments: [pay(0, 1, "1.00", { description: "x".repeat(1025) })] }, 0, "payments[0].description"],
      [{ payments: Array.from({ length: 21 }, () => pay(0, 1, "1.00")) }, undefined, "payments"],
      [{ payments: [] }, undefined, "payments"],
    ];
    const before = await gw.balances();
    for (const [body, index, field] of cases) {
      const r = await post(token, body);
      expect(r.res.status, JSON.stringify(body).slice(0, 120)).toBe(400);
      expect(r.body.error.code).toBe("invalid_parameters");
      expect(r.body.error.details.field, JSON.stringify(r.body)).toBe(field);
      if (index !== undefined) expect(r.body.error.details.index).toBe(index);
      expect(r.body.error.message).toContain(field);
    }
    const dup = await post(token, { payments: [pay(0, 1, "1.00", { idempotencyKey: "k" }), pay(0, 2, "1.00", { idempotencyKey: "k" })] });
    expect(dup.res.status).toBe(400);
    expect(dup.body.error).toMatchObject({ code: "duplicate_idempotency_key", details: { index: 1, field: "payments[1].idempotencyKey" } });
    expect((await post(token, "{")).res.status).toBe(400);
    expect(await gw.balances()).toEqual(before);
  });

  it("refuses a mixed-currency payment before anything runs", async () => {
    const eur = "wal_eur_test";
    await gw.services.store.ledger.createWallet({ walletId: eur, userId: u(1).user_id, currency: "EUR", createdAt: Date.now() }, 0);
    const before = await gw.balances();
    const r = await post(u(0).access_token, { payments: [pay(0, 2, "1.00"), { from: w(0), to: eur, amount: "1.00" }] });
    expect(r.res.status).toBe(400);
    expect(r.body.error.details).toEqual({ index: 1, field: "payments[1].to" });
    expect(await gw.balances()).toEqual(before);
  });

  it("needs a Bearer token with payments:write", async () => {
    const body = { payments: [pay(0, 1, "1.00")] };
    expect((await post(null, body)).body.error.code).toBe("missing_authorization");
    expect((await post("at_wrong", body)).body.error.code).toBe("invalid_token");
    const readOnly = await issueTokenInto(gw.services.store, u(0).user_id, ["payments:read"]);
    const r = await post(readOnly, body);
    expect(r.res.status).toBe(403);
    expect(r.body.error.code).toBe("insufficient_scope");
  });

  it("replays the stored answer for an Idempotency-Key, with the same batchId; another body is 422", async () => {
    const body = { payments: [pay(0, 1, "10.00"), pay(0, 2, "20.00")] };
    const first = await post(u(0).access_token, body, { "idempotency-key": "payroll-1" });
    expect(first.res.status).toBe(200);
    const before = await gw.balances();
    const again = await post(u(0).access_token, body, { "idempotency-key": "payroll-1" });
    expect(again.res.status).toBe(200);
    expect(again.res.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await gw.balances()).toEqual(before);
    const other = await post(u(0).access_token, { payments: [pay(0, 1, "11.00")] }, { "idempotency-key": "payroll-1" });
    expect(other.res.status).toBe(422);
    expect(other.body.error.code).toBe("idempotency_key_reused");
    // A 207 replays too.
    const failing = { payments: [pay(0, 1, "10.00"), pay(0, 2, "9999.00")] };
    const f1 = await post(u(0).access_token, failing, { "idempotency-key": "payroll-2" });
    const f2 = await post(u(0).access_token, failing, { "idempotency-key": "payroll-2" });
    expect([f1.res.status, f2.res.status]).toEqual([207, 207]);
    expect(f2.body).toEqual(f1.body);
  });

  it("makes each item's idempotencyKey exactly-once across batches; a rolled-back item's key is free again", async () => {
    const first = await post(u(0).access_token, { payments: [pay(0, 1, "10.00", { idempotencyKey: "inv-1" })] });
    expect(first.res.status).toBe(200);
    const before = await gw.balances();
    const second = await post(u(0).access_token, { payments: [pay(0, 1, "10.00", { idempotencyKey: "inv-1" }), pay(0, 2, "5.00")] });
    expect(second.res.status).toBe(200);
    expect(second.body.results[0]).toEqual({ index: 0, status: "success", transactionId: first.body.results[0].transactionId, replayed: true });
    const after = await gw.balances();
    expect(after[w(1)]).toBe(before[w(1)]);
    expect(after[w(0)]).toBe(before[w(0)] - 500);

    // In a batch that fails, the replayed item is not this batch's to reverse.
    const third = await post(u(0).access_token, { payments: [pay(0, 1, "10.00", { idempotencyKey: "inv-1" }), pay(0, 3, "7.00", { idempotencyKey: "inv-2" }), pay(0, 2, "99999.00")] });
    expect(third.res.status).toBe(207);
    expect(third.body.results[0]).toMatchObject({ status: "success", transactionId: first.body.results[0].transactionId, replayed: true });
    expect(third.body.results[1]).toMatchObject({ status: "reversed" });
    expect(await gw.balances()).toEqual(after);
    // inv-2's payment was reversed: the key pays again.
    const fourth = await post(u(0).access_token, { payments: [pay(0, 3, "7.00", { idempotencyKey: "inv-2" })] });
    expect(fourth.body.results[0]).toMatchObject({ index: 0, status: "success" });
    expect(fourth.body.results[0].replayed).toBeUndefined();
    expect(fourth.body.results[0].transactionId).not.toBe(third.body.results[1].transactionId);
    expect((await gw.balances())[w(3)]).toBe(after[w(3)] + 700);
  });
});

describe("POST /v1/payments/batch with odd input", () => {
  it("never answers 5xx and never loses or makes money", async () => {
    const odd: unknown[] = [null, 0, -1, 1.5, "", "x", "1.00", "１.00", [], {}, true, "wal_", "0.001", "99999999999999999999", { a: 1 }, "__proto__"];
    let x = 7;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    const before = sum(await gw.balances());
    for (let i = 0; i < 150; i++) {
      const items = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => {
        const item: Record<string, unknown> = pay(Math.floor(rnd() * 2), 2 + Math.floor(rnd() * 2), `${Math.floor(rnd() * 900)}.${Math.floor(rnd() * 90) + 10}`);
        if (rnd() < 0.6) item[pick(["from", "to", "amount", "description", "idempotencyKey", "extra", "__proto__"])] = pick(odd);
        return item;
      });
      const body = rnd() < 0.1 ? pick(odd) : { payments: rnd() < 0.1 ? pick(odd) : items };
      const r = await post(u(0).access_token, JSON.stringify(body));
      expect(r.res.status, JSON.stringify(body).slice(0, 200)).toBeLessThan(500);
      expect([200, 207, 400]).toContain(r.res.status);
    }
    expect(sum(await gw.balances())).toBe(before);
  });
});

describe("atomic: true on /batch/create", () => {
  const payCall = (from: number, to: number, amount: string, ref: string) => ({
    call: "/payment/create",
    authorization: u(from).access_token,
    reference_id: ref,
    parameters: { from_wallet_id: w(from), to_wallet_id: w(to), amount, currency: "USD" },
  });

  it("runs every call in order when all succeed", async () => {
    const before = await gw.balances();
    const { res, body } = await gw.batch([payCall(0, 1, "1.00", "a"), { call: "/user", authorization: u(0).access_token, reference_id: "b" }, payCall(1, 2, "2.00", "c")], { atomic: true });
    expect(res.status).toBe(200);
    expect(body.calls.map((c: any) => c.status)).toEqual([200, 200, 200]);
    expect(body.calls.every((c: any) => c.compensated === undefined)).toBe(true);
    expect(sum(await gw.balances())).toBe(sum(before));
  });

  it("compensates the calls that succeeded, newest first, when one fails; the calls after it do not run", async () => {
    const before = await gw.balances();
    const { body } = await gw.batch(
      [payCall(0, 1, "1.00", "a"), { call: "/wallet/find", authorization: u(0).access_token, reference_id: "b", parameters: { wallet_id: w(0) } }, payCall(1, 2, "2.00", "c"), payCall(3, 2, "99999.00", "d"), payCall(0, 2, "3.00", "e")],
      { atomic: true },
    );
    expect(body.calls.map((c: any) => [c.reference_id, c.status, c.compensated ?? null])).toEqual([
      ["a", 200, true],
      ["b", 200, true],
      ["c", 200, true],
      ["d", 422, null],
      ["e", 424, null],
    ]);
    expect(body.calls[3].response.error).toBe("insufficient_funds");
    expect(body.calls[4].response.error).toBe("atomic_batch_aborted");
    expect(await gw.balances()).toEqual(before);
    const p = await gw.call("/payment/find", u(0).access_token, { payment_id: body.calls[0].response.payment_id });
    expect(p.body.status).toBe("reversed");
  });

  it("cancels a pending payout; a completed payout cannot be compensated and says so", async () => {
    const payout = (amount: string, ref: string) => ({
      call: "/payout/create",
      authorization: u(0).access_token,
      reference_id: ref,
      parameters: { wallet_id: w(0), amount, currency: "USD", rail: "paypal", destination: { email: "a@example.com" } },
    });
    const before = await gw.balances();
    const { body } = await gw.batch([payout("5.15", "pending"), payout("6.00", "completed"), payCall(0, 1, "99999.00", "fails")], { atomic: true });
    expect(body.calls[0]).toMatchObject({ status: 200, compensated: true });
    expect(body.calls[1]).toMatchObject({ status: 200, compensation_error: { error: "payout_not_cancellable" } });
    expect(body.calls[1].compensated).toBeUndefined();
    const after = await gw.balances();
    expect(after[w(0)]).toBe(before[w(0)] - 600);
    const cancelled = await gw.call("/payout/find", u(0).access_token, { payout_id: body.calls[0].response.payout_id });
    expect(cancelled.body.status).toBe("cancelled");
    expect(gw.logs.some((l) => l.includes("atomic batch compensation failed: manual action required"))).toBe(true);
  });

  it("leaves a call replayed from its idempotency_key alone: its effect is the first request's", async () => {
    const keyed = { ...payCall(0, 1, "4.00", "k"), idempotency_key: "once" };
    const first = await gw.batch([keyed]);
    expect(first.body.calls[0].status).toBe(200);
    const { body } = await gw.batch([keyed, payCall(3, 2, "99999.00", "fails")], { atomic: true });
    expect(body.calls[0]).toMatchObject({ status: 200, replayed: true });
    expect(body.calls[0].compensated).toBeUndefined();
    const p = await gw.call("/payment/find", u(0).access_token, { payment_id: first.body.calls[0].response.payment_id });
    expect(p.body.status).toBe("completed");
  });

  it("refuses a batch with a call that declares no compensating action, naming it, before anything runs", async () => {
    const before = await gw.balances();
    const { res, body } = await gw.batch([payCall(0, 1, "1.00", "a"), { call: "/payment/reverse", authorization: u(0).access_token, parameters: { payment_id: "pay_x" } }], { atomic: true });
    expect(res.status).toBe(400);
    expect(body.error).toBe("call_not_compensable");
    expect(body.error_description).toContain("calls[1]");
    expect(body.error_description).toContain("/payment/reverse");
    expect(await gw.balances()).toEqual(before);
  });
});
