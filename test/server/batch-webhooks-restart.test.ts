/**
 * A batch's webhooks survive a kill -9 of the real server (child processes on loopback): the
 * server running a /v1/batches batch is killed mid-batch and restarted on the same DATA_DIR (or, on
 * STORE=redis, one of two instances is killed and the other takes over); the batch completes, and a
 * real receiver gets batch.started, every item's event and the batch.completed digest, each verified
 * with the standardwebhooks package. An event id arrives twice only when its first delivery was
 * in flight at the kill (the receiver answered, the dead server could not record it: at-least-once,
 * deduplicated by webhook-id on the receiving side).
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
import { startReceiver, verifyWith, waitFor, type Receiver } from "../helpers/webhook-receiver.js";

const running: RunningServer[] = [];
const receivers: Receiver[] = [];

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
  for (const r of receivers) await r.close();
});

const WEBHOOK_ENV = { WEBHOOK_ALLOW_PRIVATE_URLS: "true", WEBHOOK_RETRY_SCHEDULE: "200ms,200ms,200ms,200ms,200ms,200ms", WEBHOOK_TIMEOUT_MS: "10000" };

async function boot(env: Record<string, string>) {
  const s = await startServer({ DEMO_USERS: "50", TOKEN_RATE_LIMIT_POINTS: "1000000", CLIENT_RATE_LIMIT_POINTS: "1000000", SQLITE_SYNCHRONOUS: "NORMAL", ...WEBHOOK_ENV, ...env });
  running.push(s);
  return s;
}

function authOf(creds: any) {
  const c = creds.clients[0];
  return `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString("base64")}`;
}

async function call(base: string, creds: any, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: authOf(creds) };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

/** n payment items; every 10th asks for more than the wallet holds and fails. */
function items(creds: any, n: number) {
  return ringPaymentItems(creds.users, n, { failEvery: 10, metadata: true });
}

async function until(base: string, creds: any, id: string, pred: (b: any) => boolean, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const b = await call(base, creds, "GET", `/v1/batches/${id}`).catch(() => null);
    if (b && pred(b.body)) return b.body;
    if (Date.now() > end) throw new Error(`batch ${id}: condition not met; last ${JSON.stringify(b?.body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs an n-item batch on `first`, kills it once `killAfter` items succeeded, lets `survivor()`
 * finish it, and checks what the receiver got.
 */
async function killMidBatch(opts: { n: number; killAfter: number; first: RunningServer; creds: any; survivor: () => Promise<RunningServer> }) {
  const { n, creds, first } = opts;
  const receiver = await startReceiver();
  receivers.push(receiver);
  const ep = await call(first.base, creds, "POST", "/v1/webhook-endpoints", { url: `${receiver.url}/hook` });
  expect(ep.status).toBe(201);
  const secret = ep.body.secret as string;

  const made = await call(first.base, creds, "POST", "/v1/batches", { label: "crash", items: items(creds, n), process: true });
  expect(made.status, JSON.stringify(made.body)).toBe(202);
  const id = made.body.id as string;
  const mid = await until(first.base, creds, id, (b) => b.succeeded_count + b.failed_count >= opts.killAfter);
  await first.stop("SIGKILL");
  const killedAt = Date.now();
  expect(mid.status).toBe("processing");
  expect(mid.pending_count).toBeGreaterThan(0);

  const s = await opts.survivor();
  const done = await until(s.base, creds, id, (b) => b.status !== "processing");
  const failing = Array.from({ length: n }, (_, i) => i).filter((i) => i % 10 === 9).length;
  expect(done).toMatchObject({ status: "completed_with_failures", total_count: n, succeeded_count: n - failing, failed_count: failing });

  const expected = [`evt_${id}_started_0`, ...Array.from({ length: n }, (_, i) => `evt_${id}_${i}_1`), `evt_${id}_completed_0`];
  const want = new Set(expected);
  await waitFor(
    "every event of the batch at the receiver",
    () => {
      const got = new Set(receiver.received.map((r) => r.headers["webhook-id"]));
      return expected.every((e) => got.has(e));
    },
    120_000,
  );

  const arrivals = new Map<string, number[]>();
  for (const r of receiver.received) {
    const payload = verifyWith(secret, r);
    const eid = r.headers["webhook-id"];
    expect(want.has(eid), eid).toBe(true);
    expect(r.body).not.toContain(creds.users[0].access_token);
    if (eid === `evt_${id}_completed_0`) {
      expect(payload).toMatchObject({ type: "batch.completed", data: { batch_id: id, total_count: n, succeeded_count: n - failing, failed_count: failing } });
    } else if (eid !== `evt_${id}_started_0`) {
      const i = Number(eid.split("_").at(-2));
      expect(payload).toMatchObject({ type: i % 10 === 9 ? "batch.item.failed" : "batch.item.completed", data: { batch_id: id, index: i, reference_id: `r${i}`, metadata: { i } } });
    }
    arrivals.set(eid, [...(arrivals.get(eid) ?? []), r.at]);
  }
  expect(arrivals.size).toBe(expected.length);
  // The receiver always answered 2xx: a second arrival is only a delivery in flight at the kill.
  const twice = [...arrivals].filter(([, at]) => at.length > 1);
  for (const [eid, at] of twice) {
    expect(at.length, eid).toBe(2);
    expect(Math.min(...at), eid).toBeLessThanOrEqual(killedAt);
  }
  return { id, survivor: s };
}

describe("batch webhooks across a kill -9 on the embedded store", () => {
  it("the restarted server finishes the batch and every event is delivered", async () => {
    const dir = tempDir();
    // A slow rate so the kill lands mid-batch.
    const env = { DATA_DIR: dir, ASYNC_BATCH_RATE: "400", ASYNC_BATCH_SLICE: "100" };
    const first = await boot(env);
    const creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8"));
    const { id, survivor } = await killMidBatch({ n: 1500, killAfter: 300, first, creds, survivor: () => boot(env) });
    await survivor.stop("SIGKILL");
    const db = new Database(join(dir, "batchgate.sqlite"), { readonly: true });
    const owed = (db.prepare("SELECT COUNT(*) AS n FROM async_batch_items WHERE batch_id = ? AND event_owed = 1").get(id) as any).n;
    const digest = (db.prepare("SELECT digest_owed_run AS r FROM async_batches WHERE batch_id = ?").get(id) as any).r;
    const payments = (db.prepare("SELECT COUNT(*) AS n FROM payments").get() as any).n;
    db.close();
    expect(owed).toBe(0);
    expect(digest).toBeNull();
    expect(payments).toBe(1500 - 150);
  }, 240_000);
});

describeRedis("batch webhooks across a kill -9 with two instances on Redis", () => {
  const prefix = uniquePrefix("bgasynchook");
  afterAll(async () => {
    await deleteRedisPrefix(prefix);
  });

  it("the other instance finishes the batch and every event is delivered", async () => {
    // Both instances need the same key to read the endpoint secrets they share.
    const env = { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, WEBHOOK_SECRET_KEY: "test-key-".padEnd(40, "x"), ASYNC_BATCH_RATE: "150", ASYNC_BATCH_SLICE: "100", ASYNC_BATCH_JOB_LOCK_MS: "2000" };
    const dirA = tempDir();
    const a = await boot({ ...env, DATA_DIR: dirA });
    const b = await boot({ ...env, DATA_DIR: tempDir() });
    const creds = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8"));
    const { id } = await killMidBatch({ n: 1000, killAfter: 200, first: a, creds, survivor: async () => b });
    // Nothing is owed any more: the marks were cleared as the events went out.
    const redis = new Redis(REDIS_URL);
    try {
      await waitFor("the owed marks cleared", async () => (await redis.sismember(`{${prefix}}:v1:abowing`, id)) === 0);
      expect(await redis.scard(`{${prefix}}:v1:abowed:${id}`)).toBe(0);
      expect(await redis.hget(`{${prefix}}:v1:abatch:${id}`, "digestOwedRun")).toBeNull();
    } finally {
      redis.disconnect();
    }
  }, 240_000);
});
