/**
 * Webhook delivery survives a crash: messages owed to a failing receiver are in the SQLite outbox
 * when the real server (src/node.ts) is killed with SIGKILL — some waiting for a retry, some in
 * the middle of an attempt — and after a restart on the same DATA_DIR the receiver gets every one
 * of them, each verified with the standardwebhooks package.
 *
 * The events are emitted by this test process into the same SQLite file (WAL allows a second
 * connection), through the same outbox code the batch runner uses, since no producer of events
 * runs in the server yet.
 */
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { afterAll, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { WebhookService } from "../../src/core/webhooks.js";
import type { Logger } from "../../src/ports/runtime.js";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { startReceiver, verifyWith, waitFor } from "../helpers/webhook-receiver.js";

const running: RunningServer[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
  for (const c of cleanups) await c();
});

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

it("delivers every message owed at a kill -9 after the restart", async () => {
  const dataDir = tempDir();
  const receiver = await startReceiver({ status: 503 });
  cleanups.push(() => receiver.close());
  const env = { DATA_DIR: dataDir, DEMO_USERS: "1", WEBHOOK_ALLOW_PRIVATE_URLS: "true", WEBHOOK_RETRY_SCHEDULE: "1s,1s,1s,1s,1s,1s,1s,1s", WEBHOOK_TIMEOUT_MS: "1000" };
  const first = await startServer(env);
  running.push(first);
  const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
  const client = creds.clients[0];
  const res = await fetch(`${first.base}/v1/webhook-endpoints`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`, "content-type": "application/json" },
    body: JSON.stringify({ url: `${receiver.url}/hook` }),
  });
  expect(res.status).toBe(201);
  const { id: endpointId, secret } = (await res.json()) as { id: string; secret: string };

  const store = new SqlStore(openBetterSqlite({ filename: join(dataDir, "batchgate.sqlite"), synchronous: "FULL" }));
  cleanups.push(() => store.close());
  const outbox = new WebhookService({
    store: store.webhooks,
    clock: { now: () => Date.now() },
    logger: silent,
    fetch,
    resolver: null,
    box: null,
    options: { timeoutMs: 1000, retrySchedule: [1000], rotationGraceMs: 0, concurrency: 1, allowPrivateUrls: true },
    wake: () => undefined,
  });
  const ids = Array.from({ length: 6 }, (_, i) => `evt_crash_${i}`);
  for (const id of ids) await outbox.emit({ id, clientId: Number(client.client_id), type: "batch.completed", data: { batch_id: id }, createdAt: Date.now() });

  // The server finds them (idle poll), and every first attempt fails with 503.
  await waitFor("a first attempt of every message", () => ids.every((id) => receiver.received.some((r) => r.headers["webhook-id"] === id)));
  // Now the receiver hangs: the next retries are in flight (leased) when the server dies.
  receiver.setDefault("hang");
  const hangFrom = receiver.received.length;
  await waitFor("an attempt in flight", () => receiver.received.length > hangFrom);
  await first.stop("SIGKILL");

  // Nothing was delivered before the crash: every message is still owed, in the store.
  const before = (await store.webhooks.listAttempts(endpointId, { limit: 100 }))!.attempts;
  expect(before.filter((a) => a.outcome === "delivered")).toEqual([]);

  receiver.setDefault("ok");
  const okFrom = receiver.received.length;
  const second = await startServer(env);
  running.push(second);
  const delivered = await waitFor(
    "every message delivered after the restart",
    () => {
      const after = receiver.received.slice(okFrom);
      return ids.every((id) => after.some((r) => r.headers["webhook-id"] === id)) && after;
    },
    30_000,
  );
  for (const r of delivered) expect(verifyWith(secret, r).type).toBe("batch.completed");
  const page = await fetch(`${second.base}/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`, {
    headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
  });
  const attempts = ((await page.json()) as { data: { event_id: string; outcome: string }[] }).data;
  for (const id of ids) expect(attempts.filter((a) => a.event_id === id && a.outcome === "delivered")).toHaveLength(1);
}, 90_000);
