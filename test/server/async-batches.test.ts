/**
 * Asynchronous batches on the real Node server (child processes on loopback): a 5,000-item batch
 * completes with every item in exactly one final state and one ledger payment per succeeded item;
 * a server killed with SIGKILL mid-batch and restarted on the same DATA_DIR finishes the batch
 * with no item run twice; on STORE=redis, two instances share the work and the survivor finishes
 * the items of the one killed mid-batch.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { ringPaymentItems } from "../../scripts/lib/payment-items.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const N = 5000;
const running: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
});

async function boot(env: Record<string, string>) {
  const s = await startServer({ DEMO_USERS: "50", TOKEN_RATE_LIMIT_POINTS: "1000000", CLIENT_RATE_LIMIT_POINTS: "1000000", SQLITE_SYNCHRONOUS: "NORMAL", ...env });
  running.push(s);
  return s;
}

function items(creds: any, n: number) {
  return ringPaymentItems(creds.users, n);
}

function authOf(creds: any) {
  const c = creds.clients[0];
  return `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString("base64")}`;
}

async function submit(base: string, creds: any, n = N) {
  const res = await fetch(`${base}/v1/batches`, {
    method: "POST",
    headers: { authorization: authOf(creds), "content-type": "application/json" },
    body: JSON.stringify({ label: "big", items: items(creds, n), process: true }),
  });
  const body = (await res.json()) as any;
  expect(res.status, JSON.stringify(body)).toBe(202);
  return body.id as string;
}

async function batchOf(base: string, creds: any, id: string) {
  const res = await fetch(`${base}/v1/batches/${id}`, { headers: { authorization: authOf(creds) } });
  return (await res.json()) as any;
}

async function until(base: string, creds: any, id: string, pred: (b: any) => boolean, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const b = await batchOf(base, creds, id).catch(() => null);
    if (b && pred(b)) return b;
    if (Date.now() > end) throw new Error(`batch ${id}: condition not met; last ${JSON.stringify(b)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every item's status over all result pages. */
async function allResults(base: string, creds: any, id: string) {
  const out: any[] = [];
  let after: number | undefined;
  for (;;) {
    const q = after === undefined ? "limit=1000" : `limit=1000&starting_after=${after}`;
    const res = await fetch(`${base}/v1/batches/${id}/results?${q}`, { headers: { authorization: authOf(creds) } });
    const page = (await res.json()) as any;
    out.push(...page.data);
    if (!page.has_more) return out;
    after = page.data[page.data.length - 1].index;
  }
}

function expectEveryItemFinal(results: any[], n: number) {
  expect(results.map((r) => r.index)).toEqual(Array.from({ length: n }, (_, i) => i));
  for (const r of results) expect(["succeeded", "failed", "cancelled"]).toContain(r.status);
}

describe("asynchronous batches on the embedded store", () => {
  it("a 5,000-item batch completes: every item final, one payment per succeeded item", async () => {
    const dir = tempDir();
    const s = await boot({ DATA_DIR: dir });
    const creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8"));
    const id = await submit(s.base, creds);
    const done = await until(s.base, creds, id, (b) => b.status !== "processing");
    expect(done).toMatchObject({ status: "completed", total_count: N, succeeded_count: N, failed_count: 0, percent_done: 100 });
    const results = await allResults(s.base, creds, id);
    expectEveryItemFinal(results, N);
    await s.stop("SIGKILL");
    const db = new Database(join(dir, "batchgate.sqlite"), { readonly: true });
    const payments = (db.prepare("SELECT COUNT(*) AS n FROM payments").get() as any).n;
    const paymentIds = new Set(results.map((r) => r.response.payment_id));
    db.close();
    expect(paymentIds.size).toBe(N);
    expect(payments).toBe(N);
  }, 180_000);

  it("killed with SIGKILL mid-batch and restarted on the same DATA_DIR: the batch completes, no item ran twice", async () => {
    const dir = tempDir();
    // A slow rate so the kill lands mid-batch.
    const env = { DATA_DIR: dir, ASYNC_BATCH_RATE: "400", ASYNC_BATCH_SLICE: "100" };
    const s1 = await boot(env);
    const creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8"));
    const id = await submit(s1.base, creds, 2000);
    const mid = await until(s1.base, creds, id, (b) => b.succeeded_count >= 300);
    await s1.stop("SIGKILL");
    expect(mid.status).toBe("processing");
    expect(mid.pending_count).toBeGreaterThan(0);

    const s2 = await boot(env);
    const done = await until(s2.base, creds, id, (b) => b.status !== "processing");
    expect(done).toMatchObject({ status: "completed", succeeded_count: 2000, failed_count: 0 });
    const results = await allResults(s2.base, creds, id);
    expectEveryItemFinal(results, 2000);
    for (const r of results) expect(r.attempts).toHaveLength(1);
    await s2.stop("SIGKILL");
    const db = new Database(join(dir, "batchgate.sqlite"), { readonly: true });
    const payments = (db.prepare("SELECT COUNT(*) AS n FROM payments").get() as any).n;
    const entries = (db.prepare("SELECT COUNT(*) AS n FROM ledger_entries WHERE kind = 'payment'").get() as any).n;
    db.close();
    expect(payments).toBe(2000);
    expect(entries).toBe(2 * 2000);
  }, 180_000);
});

describeRedis("asynchronous batches on Redis with two instances", () => {
  const prefix = uniquePrefix("bgasync");
  afterAll(async () => {
    await deleteRedisPrefix(prefix);
  });

  it("one instance killed mid-batch: the other takes its jobs over; no item ran twice", async () => {
    const env = { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, ASYNC_BATCH_RATE: "150", ASYNC_BATCH_SLICE: "100", ASYNC_BATCH_JOB_LOCK_MS: "2000" };
    const dirA = tempDir();
    const a = await boot({ ...env, DATA_DIR: dirA });
    const b = await boot({ ...env, DATA_DIR: tempDir() });
    const creds = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8"));
    const id = await submit(a.base, creds, 1500);
    const mid = await until(b.base, creds, id, (x) => x.succeeded_count >= 200);
    await a.stop("SIGKILL");
    expect(mid.status).toBe("processing");
    expect(mid.pending_count).toBeGreaterThan(0);
    const done = await until(b.base, creds, id, (x) => x.status !== "processing");
    expect(done).toMatchObject({ status: "completed", succeeded_count: 1500, failed_count: 0 });
    const results = await allResults(b.base, creds, id);
    expectEveryItemFinal(results, 1500);
    const redis = new Redis(REDIS_URL);
    try {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await redis.scan(cursor, "MATCH", `{${prefix}}:v1:payment:*`, "COUNT", 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== "0");
      expect(keys.length).toBe(1500);
      const entries = (await redis.lrange(`{${prefix}}:v1:entries`, 0, -1)).filter((e) => JSON.parse(e)[2] === "payment");
      expect(entries.length).toBe(2 * 1500);
    } finally {
      redis.disconnect();
    }
  }, 180_000);
});
