/**
 * Two gateway instances on one Redis, both running the webhook delivery pump over the same
 * outbox: every message is attempted exactly once (the claim is a lease taken by one script), and
 * each delivery is verified with the independent standardwebhooks package on a real receiver.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildNodeServices } from "../../src/adapters/node/gateway.js";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { createApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { type DemoCredentials, seedDemoData } from "../../src/demo-data.js";
import type { GatewayServices } from "../../src/services.js";
import { tempDir } from "../helpers/gateway.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";
import { startReceiver, verifyWith, waitFor, type Receiver } from "../helpers/webhook-receiver.js";

describeRedis("webhook delivery with two instances on one Redis", () => {
  const prefix = uniquePrefix("bgtest-wh");
  let a: GatewayServices;
  let b: GatewayServices;
  let receiver: Receiver;
  let creds: DemoCredentials;

  beforeAll(async () => {
    const env = {
      STORE: "redis",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      LOG_LEVEL: "silent",
      WEBHOOK_SECRET_KEY: "test-key-".padEnd(40, "x"),
      WEBHOOK_ALLOW_PRIVATE_URLS: "true",
      WEBHOOK_RETRY_SCHEDULE: "20ms,20ms,20ms",
      WEBHOOK_CONCURRENCY: "4",
    };
    a = await buildNodeServices(parseConfig({ ...env, DATA_DIR: tempDir() }));
    b = await buildNodeServices(parseConfig({ ...env, DATA_DIR: tempDir() }));
    creds = (await seedDemoData(a.store, nodeHasher, { users: 1 }))!;
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await Promise.all([a.background.stop(), b.background.stop()]);
    await receiver.close();
    await a.store.close();
    await b.store.close();
    await deleteRedisPrefix(prefix);
  });

  it("delivers each message once although both pumps claim from the same outbox", async () => {
    const client = creds.clients[0];
    const res = await createApp(a).request("/v1/webhook-endpoints", {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`, "content-type": "application/json" },
      body: JSON.stringify({ url: `${receiver.url}/hook` }),
    });
    expect(res.status).toBe(201);
    const { id: endpointId, secret } = (await res.json()) as { id: string; secret: string };
    // The other instance reads the same endpoint (and can open its secret with the shared key).
    expect((await b.webhooks.getEndpoint(Number(client.client_id), endpointId)).url).toBe(`${receiver.url}/hook`);

    // A few failures first, so retries are claimed across instances too.
    receiver.answer({ status: 500 }, { status: 500 }, { status: 500 });
    a.background.start();
    b.background.start();
    const N = 60;
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: N }, (_, i) => {
        const id = `evt_two_${i}`;
        ids.push(id);
        return (i % 2 ? a : b).events.emit({ id, clientId: Number(client.client_id), type: "batch.item.completed", data: { item_index: i }, createdAt: Date.now() });
      }),
    );
    await waitFor("every event delivered", () => new Set(receiver.received.map((r) => r.headers["webhook-id"])).size === N && receiver.received.length >= N + 3, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    // N deliveries plus the 3 failed attempts, and no attempt twice.
    expect(receiver.received).toHaveLength(N + 3);
    const perId = new Map<string, number>();
    for (const r of receiver.received) {
      expect(verifyWith(secret, r).type).toBe("batch.item.completed");
      perId.set(r.headers["webhook-id"], (perId.get(r.headers["webhook-id"]) ?? 0) + 1);
    }
    expect([...perId.keys()].sort()).toEqual([...ids].sort());
    // Every request the receiver saw is one recorded attempt.
    let recorded = 0;
    let cursor: string | undefined;
    for (;;) {
      const page = await a.webhooks.listAttempts(Number(client.client_id), endpointId, { limit: 100, startingAfter: cursor });
      recorded += page.attempts.length;
      if (!page.hasMore) break;
      cursor = page.attempts[page.attempts.length - 1].attemptId;
    }
    expect(recorded).toBe(N + 3);
  }, 60_000);
});
