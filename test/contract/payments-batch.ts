/**
 * The atomic payment batch contract (POST /v1/payments/batch, GET /v1/payments/batch/{id},
 * `atomic: true` on /batch/create), run over real HTTP on every runtime by the contract suite
 * (suite.ts calls definePaymentsBatchContract). It starts a gateway of its own so that its money
 * movements cannot disturb the suite's other tests: users 0–3 for the general tests, 4–7 for the
 * 40-batch burst.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hammerOneWallet } from "../helpers/payments-batch.js";
import type { ContractRuntime, ContractTarget, StartTarget } from "./target.js";

type Json = any;

export function definePaymentsBatchContract(runtime: ContractRuntime, start: StartTarget) {
  let t: ContractTarget;

  beforeAll(async () => {
    t = await start({
      users: 8,
      env: { CLIENT_RATE_LIMIT_POINTS: "1000000", TOKEN_RATE_LIMIT_POINTS: "1000000" },
      // Never called: an upstream call makes an atomic batch refused before anything runs.
      upstreams: { upstreams: [{ call: "/checkout/create", url: "http://127.0.0.1:9/checkout" }] },
    });
  }, 180_000);

  afterAll(async () => {
    await t?.stop();
  }, 60_000);

  const user = (i: number) => t.creds.users[i];
  const wallet = (i: number) => user(i).wallets[0].wallet_id;
  const pay = (from: number, to: number, amount: string, extra: Record<string, unknown> = {}) => ({ from: wallet(from), to: wallet(to), amount, ...extra });

  async function post(token: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${t.base}/v1/payments/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify(body),
    });
    return { res, body: (await res.json()) as Json };
  }

  async function get(token: string, id: string) {
    const res = await fetch(`${t.base}/v1/payments/batch/${id}`, { headers: { authorization: `Bearer ${token}` } });
    return { res, body: (await res.json()) as Json };
  }

  async function balances(users: number[]): Promise<number[]> {
    return Promise.all(
      users.map(async (i) => {
        const res = await fetch(`${t.base}/v2/wallet/find`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${user(i).access_token}` },
          body: JSON.stringify({ wallet_id: wallet(i) }),
        });
        return Math.round(Number(((await res.json()) as Json).balance) * 100);
      }),
    );
  }

  function batch(calls: unknown[], extra: Record<string, unknown> = {}) {
    const c = t.creds.clients[0];
    return fetch(`${t.base}/batch/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls, ...extra }),
    }).then(async (res) => ({ res, body: (await res.json()) as Json }));
  }

  describe(`${runtime}: atomic payment batches (POST /v1/payments/batch)`, () => {
    it("answers 200 when every payment succeeds, and GET returns it to its owner only", async () => {
      const before = await balances([0, 1, 2, 3]);
      const r = await post(user(0).access_token, { payments: [pay(0, 1, "100.00"), pay(0, 2, "200.00"), pay(0, 3, "150.00")] });
      expect(r.res.status).toBe(200);
      expect(r.body).toEqual({
        batchId: expect.stringMatching(/^bat_/),
        results: [0, 1, 2].map((index) => ({ index, status: "success", transactionId: expect.stringMatching(/^pay_/) })),
        summary: { total: 3, succeeded: 3, failed: 0 },
      });
      expect(await balances([0, 1, 2, 3])).toEqual([before[0] - 45_000, before[1] + 10_000, before[2] + 20_000, before[3] + 15_000]);
      expect((await get(user(0).access_token, r.body.batchId)).body).toEqual({ ...r.body, state: "succeeded", recovered: false });
      const other = await get(user(1).access_token, r.body.batchId);
      expect(other.res.status).toBe(404);
      expect(other.body.error).toMatchObject({ code: "not_found", request_id: expect.any(String) });
    });

    it("answers 207 and reverses every succeeded payment when one fails", async () => {
      const before = await balances([0, 1, 2, 3]);
      const r = await post(user(0).access_token, { payments: [pay(0, 1, "10.00"), pay(0, 2, "999999.00"), pay(0, 3, "15.00")] });
      expect(r.res.status).toBe(207);
      expect(r.body).toMatchObject({
        error: { code: "BATCH_PARTIAL_FAILURE", message: expect.any(String) },
        results: [
          { index: 0, status: "reversed", transactionId: expect.any(String), reversalId: expect.any(String) },
          { index: 1, status: "failed", error: "INSUFFICIENT_FUNDS" },
          { index: 2, status: "reversed", transactionId: expect.any(String), reversalId: expect.any(String) },
        ],
        summary: { total: 3, succeeded: 0, reversed: 2, failed: 1 },
      });
      expect(await balances([0, 1, 2, 3])).toEqual(before);
      expect((await get(user(0).access_token, r.body.batchId)).body).toMatchObject({ state: "rolled_back", summary: r.body.summary });
    });

    it("validates before anything runs: 400 in the v1 shape naming the index and the field", async () => {
      const before = await balances([0, 1, 2]);
      const cases: [unknown, string][] = [
        [{ payments: [pay(0, 1, "1.00"), pay(0, 2, "1.005")] }, "payments[1].amount"],
        [{ payments: [pay(0, 1, "1.00"), { ...pay(0, 2, "1.00"), to: "wal_unknown" }] }, "payments[1].to"],
        [{ payments: [pay(0, 0, "1.00")] }, "payments[0].to"],
        [{ payments: [pay(0, 1, "1.00"), pay(1, 2, "1.00")] }, "payments[1].from"],
        [{ payments: Array.from({ length: 21 }, () => pay(0, 1, "1.00")) }, "payments"],
      ];
      for (const [body, field] of cases) {
        const r = await post(user(0).access_token, body);
        expect(r.res.status).toBe(400);
        expect(r.body.error).toMatchObject({ code: "invalid_parameters", request_id: expect.any(String), details: { field } });
      }
      const dup = await post(user(0).access_token, { payments: [pay(0, 1, "1.00", { idempotencyKey: "d" }), pay(0, 2, "1.00", { idempotencyKey: "d" })] });
      expect(dup.body.error).toMatchObject({ code: "duplicate_idempotency_key", details: { index: 1 } });
      expect(await balances([0, 1, 2])).toEqual(before);
    });

    it("replays an Idempotency-Key's answer with the same batchId; another body is 422", async () => {
      const body = { payments: [pay(0, 1, "3.00")] };
      const key = `${runtime}-payroll-1`;
      const first = await post(user(0).access_token, body, { "idempotency-key": key });
      const before = await balances([0, 1]);
      const again = await post(user(0).access_token, body, { "idempotency-key": key });
      expect(again.res.headers.get("idempotent-replayed")).toBe("true");
      expect(again.body).toEqual(first.body);
      expect(await balances([0, 1])).toEqual(before);
      const other = await post(user(0).access_token, { payments: [pay(0, 1, "4.00")] }, { "idempotency-key": key });
      expect(other.res.status).toBe(422);
      expect(other.body.error.code).toBe("idempotency_key_reused");
    });

    it("makes an item's idempotencyKey exactly-once across batches", async () => {
      const first = await post(user(0).access_token, { payments: [pay(0, 1, "5.00", { idempotencyKey: `${runtime}-inv-9` })] });
      const before = await balances([0, 1]);
      const second = await post(user(0).access_token, { payments: [pay(0, 1, "5.00", { idempotencyKey: `${runtime}-inv-9` })] });
      expect(second.body.results[0]).toEqual({ index: 0, status: "success", transactionId: first.body.results[0].transactionId, replayed: true });
      expect(await balances([0, 1])).toEqual(before);
    });

    it("40 batches from one wallet at once: never overdrawn, each wholly applied or wholly reversed, the total conserved", async () => {
      await hammerOneWallet([t.base], user(4), [user(5), user(6), user(7)]);
    }, 120_000);

    it("is described in /openapi.json with its 200 and 207 answers", async () => {
      const doc = (await (await fetch(`${t.base}/openapi.json`)).json()) as Json;
      const op = doc.paths["/v1/payments/batch"].post;
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "207", "400", "422"]));
      expect(doc.paths["/v1/payments/batch/{batchId}"].get).toBeDefined();
    });
  });

  describe(`${runtime}: atomic: true on /batch/create`, () => {
    const payCall = (from: number, to: number, amount: string, ref: string) => ({
      call: "/payment/create",
      authorization: user(from).access_token,
      reference_id: ref,
      parameters: { from_wallet_id: wallet(from), to_wallet_id: wallet(to), amount, currency: "USD" },
    });

    it("compensates the calls that succeeded when one fails, and says so per call", async () => {
      const before = await balances([0, 1, 2, 3]);
      const { res, body } = await batch([payCall(0, 1, "1.00", "a"), payCall(1, 2, "2.00", "b"), payCall(3, 2, "999999.00", "c"), payCall(0, 3, "1.00", "d")], { atomic: true });
      expect(res.status).toBe(200);
      expect(body.calls.map((c: Json) => [c.status, c.compensated ?? null, c.response.error ?? null])).toEqual([
        [200, true, null],
        [200, true, null],
        [422, null, "insufficient_funds"],
        [424, null, "atomic_batch_aborted"],
      ]);
      expect(await balances([0, 1, 2, 3])).toEqual(before);
    });

    it("refuses a batch with an upstream call (no compensating action) before anything runs, naming it", async () => {
      const before = await balances([0, 1]);
      const { res, body } = await batch([payCall(0, 1, "1.00", "a"), { call: "/checkout/create", authorization: user(0).access_token, parameters: {} }], { atomic: true });
      expect(res.status).toBe(400);
      expect(body).toMatchObject({ error: "call_not_compensable", request_id: expect.any(String) });
      expect(body.error_description).toContain("/checkout/create");
      expect(await balances([0, 1])).toEqual(before);
    });
  });
}
