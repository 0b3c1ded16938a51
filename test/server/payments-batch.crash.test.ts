/**
 * Crash safety of atomic payment batches, for real: the gateway (src/node.ts in a child process)
 * is made to exit right after the 2nd of 3 payments by the test-only fault hook
 * (BATCHGATE_TEST_FAULT=exit_after_payment:2, honoured under NODE_ENV=test only). After a restart
 * (SQLite), or by the other instance still running (Redis), the unfinished batch is found once
 * its lease lapsed and rolled back: the balances are the starting ones and the batch reports the
 * rollback. The batch id is learnt by retrying with the same Idempotency-Key, as a client would.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { paymentBatchFaultsFrom } from "../../src/adapters/node/gateway.js";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const LEASE = { IDEMPOTENCY_LEASE_MS: "1000" };
const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
});

async function start(env: Record<string, string>) {
  const s = await startServer({ DEMO_USERS: "4", LOG_LEVEL: "warn", ...LEASE, ...env });
  servers.push(s);
  return s;
}

function exited(s: RunningServer): Promise<number | null> {
  return new Promise((resolve) => (s.child.exitCode !== null ? resolve(s.child.exitCode) : s.child.once("exit", (code) => resolve(code))));
}

async function balances(base: string, users: any[]): Promise<number[]> {
  return Promise.all(
    users.map(async (u) => {
      const res = await fetch(`${base}/v2/wallet/find`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${u.access_token}` },
        body: JSON.stringify({ wallet_id: u.wallets[0].wallet_id }),
      });
      const body = (await res.json()) as any;
      return Math.round(Number(body.balance) * 100);
    }),
  );
}

function postBatch(base: string, token: string, body: unknown, key: string) {
  return fetch(`${base}/v1/payments/batch`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "idempotency-key": key },
    body: JSON.stringify(body),
  });
}

/** Retries the request (same key) until the batch is settled and answered; returns that answer. */
async function settledAnswer(base: string, token: string, body: unknown, key: string) {
  for (let i = 0; i < 200; i++) {
    const res = await postBatch(base, token, body, key);
    if (res.status !== 409) return { status: res.status, body: (await res.json()) as any };
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the batch never settled");
}

function threePayments(creds: any) {
  const [payer, ...payees] = creds.users;
  return { payer, body: { payments: payees.map((p: any, i: number) => ({ from: payer.wallets[0].wallet_id, to: p.wallets[0].wallet_id, amount: `${(i + 1) * 10}.00` })) } };
}

async function expectRolledBack(base: string, creds: any, payer: any, body: unknown, key: string, start: number[]) {
  const answer = await settledAnswer(base, payer.access_token, body, key);
  expect(answer.status).toBe(207);
  expect(answer.body.results).toEqual([
    { index: 0, status: "reversed", transactionId: expect.any(String), reversalId: expect.any(String) },
    { index: 1, status: "reversed", transactionId: expect.any(String), reversalId: expect.any(String) },
    { index: 2, status: "failed", error: "INTERRUPTED" },
  ]);
  expect(answer.body.summary).toEqual({ total: 3, succeeded: 0, reversed: 2, failed: 1 });
  const res = await fetch(`${base}/v1/payments/batch/${answer.body.batchId}`, { headers: { authorization: `Bearer ${payer.access_token}` } });
  const stored = (await res.json()) as any;
  expect(stored).toMatchObject({ batchId: answer.body.batchId, state: "rolled_back", recovered: true, error: { code: "BATCH_PARTIAL_FAILURE" } });
  expect(await balances(base, creds.users)).toEqual(start);
  // The two payments that were made are recorded as reversed: money moved and came back once.
  for (const r of answer.body.results.slice(0, 2)) {
    const p = await fetch(`${base}/v2/payment/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${payer.access_token}` },
      body: JSON.stringify({ payment_id: r.transactionId }),
    });
    expect(((await p.json()) as any).status).toBe("reversed");
  }
}

describe("the test-only fault hook", () => {
  it("is honoured only under NODE_ENV=test, and only in its one form", () => {
    expect(paymentBatchFaultsFrom({ BATCHGATE_TEST_FAULT: "exit_after_payment:2" })).toBeUndefined();
    expect(paymentBatchFaultsFrom({ BATCHGATE_TEST_FAULT: "exit_after_payment:2", NODE_ENV: "production" })).toBeUndefined();
    expect(paymentBatchFaultsFrom({ NODE_ENV: "test" })).toBeUndefined();
    expect(paymentBatchFaultsFrom({ BATCHGATE_TEST_FAULT: "exit_after_payment:2", NODE_ENV: "test" })?.afterPayment).toBeTypeOf("function");
    expect(() => paymentBatchFaultsFrom({ BATCHGATE_TEST_FAULT: "crash", NODE_ENV: "test" })).toThrow(/BATCHGATE_TEST_FAULT/);
  });
});

describe("an atomic payment batch interrupted by a crash (SQLite)", () => {
  it("is rolled back on the next start; the balances are the starting ones and GET reports the rollback", async () => {
    const dir = tempDir("batchgate-crash-");
    const first = await start({ DATA_DIR: dir, NODE_ENV: "test", BATCHGATE_TEST_FAULT: "exit_after_payment:2" });
    const creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8"));
    const start0 = await balances(first.base, creds.users);
    const { payer, body } = threePayments(creds);
    await expect(postBatch(first.base, payer.access_token, body, "payroll-crash")).rejects.toThrow();
    expect(await exited(first)).toBe(86);

    const second = await start({ DATA_DIR: dir });
    await expectRolledBack(second.base, creds, payer, body, "payroll-crash", start0);
  }, 60_000);
});

describeRedis("an atomic payment batch whose instance dies (two instances on Redis)", () => {
  const prefix = uniquePrefix("bgcrash");
  afterAll(() => deleteRedisPrefix(prefix));

  it("is rolled back by the instance still running once the lease lapses", async () => {
    const redis = { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix };
    const dirA = tempDir("batchgate-crash-a-");
    const a = await start({ ...redis, DATA_DIR: dirA, NODE_ENV: "test", BATCHGATE_TEST_FAULT: "exit_after_payment:2" });
    const b = await start({ ...redis, DATA_DIR: tempDir("batchgate-crash-b-") });
    const creds = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8"));
    const start0 = await balances(b.base, creds.users);
    const { payer, body } = threePayments(creds);
    await expect(postBatch(a.base, payer.access_token, body, "payroll-crash-redis")).rejects.toThrow();
    expect(await exited(a)).toBe(86);
    await expectRolledBack(b.base, creds, payer, body, "payroll-crash-redis", start0);
  }, 60_000);
});
