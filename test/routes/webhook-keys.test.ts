/**
 * Where the key sealing webhook secrets comes from: WEBHOOK_SECRET_KEY; else on Node with SQLite a
 * generated key in DATA_DIR (0600, reused by the next start); with STORE=redis and on Workers,
 * none, and creating an endpoint is 503 naming WEBHOOK_SECRET_KEY.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildNodeServices } from "../../src/adapters/node/gateway.js";
import { WEBHOOK_KEY_FILE } from "../../src/adapters/node/webhook-key.js";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { createGatewayHandler } from "../../src/adapters/workers/gateway.js";
import { createApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { createSecretBox } from "../../src/core/secret-box.js";
import { seedDemoData } from "../../src/demo-data.js";
import { fakeDurableObjectStorage } from "../helpers/fake-do-storage.js";
import { tempDir } from "../helpers/gateway.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

type Json = any;

const createBody = (auth: string) => ({
  method: "POST",
  headers: { authorization: auth, "content-type": "application/json" },
  body: JSON.stringify({ url: "https://93.184.216.34/hook" }),
});

describe("webhook secret key on Node with SQLite", () => {
  it("generates a key in DATA_DIR (0600) and the next start opens the secrets sealed with it", async () => {
    const dataDir = tempDir();
    const config = parseConfig({ DATA_DIR: dataDir, LOG_LEVEL: "silent" });
    const first = await buildNodeServices(config);
    const creds = (await seedDemoData(first.store, nodeHasher, { users: 1 }))!;
    const c = creds.clients[0];
    const res = await createApp(first).request("/v1/webhook-endpoints", createBody(`Basic ${btoa(`${c.client_id}:${c.client_secret}`)}`));
    expect(res.status).toBe(201);
    const { id, secret } = (await res.json()) as Json;
    const keyFile = join(dataDir, WEBHOOK_KEY_FILE);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8");
    await first.store.close();

    const second = await buildNodeServices(config);
    try {
      expect(readFileSync(keyFile, "utf8")).toBe(key);
      // The stored secret is sealed with the key in the file (and only opens with it).
      const stored = (await second.store.webhooks.getEndpoint(id))!;
      expect(stored.secretCipher).not.toContain(secret.slice(6));
      expect(await createSecretBox(key.trim()).open(stored.secretCipher, id)).toBe(secret);
    } finally {
      await second.store.close();
    }
  });
});

describe("webhook secret key on Workers", () => {
  it("refuses to create endpoints without WEBHOOK_SECRET_KEY, with a 503 naming it", async () => {
    const dev = "d".repeat(40);
    const h = createGatewayHandler({ DEMO_USERS: "1", DEV_ROUTES_TOKEN: dev, LOG_LEVEL: "silent" }, fakeDurableObjectStorage());
    const seeded = (await (await h.fetch(new Request("http://gw.test/__dev/seed", { method: "POST", headers: { authorization: `Bearer ${dev}` } }))).json()) as Json;
    const c = seeded.credentials.clients[0];
    const res = await h.fetch(new Request("http://gw.test/v1/webhook-endpoints", createBody(`Basic ${btoa(`${c.client_id}:${c.client_secret}`)}`)));
    expect(res.status).toBe(503);
    const body = (await res.json()) as Json;
    expect(body.error).toMatchObject({ code: "service_unavailable" });
    expect(body.error.message).toContain("WEBHOOK_SECRET_KEY");
  });
});

describeRedis("webhook secret key on Node with STORE=redis", () => {
  const prefix = uniquePrefix("bgtest-whkey");
  afterAll(() => deleteRedisPrefix(prefix));

  it("refuses to create endpoints without WEBHOOK_SECRET_KEY (instances would not share a generated key)", async () => {
    const services = await buildNodeServices(parseConfig({ DATA_DIR: tempDir(), STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, LOG_LEVEL: "silent" }));
    try {
      const creds = (await seedDemoData(services.store, nodeHasher, { users: 1 }))!;
      const c = creds.clients[0];
      const res = await createApp(services).request("/v1/webhook-endpoints", createBody(`Basic ${btoa(`${c.client_id}:${c.client_secret}`)}`));
      expect(res.status).toBe(503);
      expect(((await res.json()) as Json).error.message).toContain("WEBHOOK_SECRET_KEY");
      expect(await services.store.webhooks.listEndpoints(Number(c.client_id))).toEqual([]);
    } finally {
      await services.store.close();
    }
  });
});
