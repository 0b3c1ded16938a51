/**
 * A claim is a lease: kill -9 the instance holding an Idempotency-Key, and a retry on another
 * instance sharing the Redis gets a definitive answer once the lease lapses — not before (no
 * early takeover), and not a long request timeout later.
 *
 * Two real gateway processes on one real Redis. The call is an upstream call: instance A's
 * upstream (a loopback HTTP server in this test) never answers, so A holds the claim, renewing
 * it, until it is killed; instance B's upstream for the same call answers at once, so B's retry
 * can complete. The lease is IDEMPOTENCY_LEASE_MS=6000 here (default 10000) to keep the test
 * short; the bound measured is "one lease after the last renewal", whatever the lease.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectRedis } from "../../src/adapters/redis/client.js";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const LEASE_MS = 6_000;
const prefix = uniquePrefix("bgtest-lease");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("idempotency lease after kill -9", () => {
  let upstream: Server;
  let a: RunningServer;
  let b: RunningServer;
  let admin: Redis;
  let token: string;
  let hung = 0;
  const dirA = tempDir();
  const dirB = tempDir();

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (req.url === "/hang") {
        hung++;
        return; // never answers
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ answered_by: "b" }));
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const port = (upstream.address() as AddressInfo).port;
    const upstreams = (path: string) => JSON.stringify({ upstreams: [{ call: "/test/slow", url: `http://127.0.0.1:${port}${path}`, timeout_ms: 600_000 }] });
    writeFileSync(join(dirA, "upstreams.json"), upstreams("/hang"));
    writeFileSync(join(dirB, "upstreams.json"), upstreams("/ok"));
    const env = { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, DEMO_USERS: "1", IDEMPOTENCY_LEASE_MS: String(LEASE_MS), CALL_TIMEOUT_MS: "120000" };
    a = await startServer({ ...env, DATA_DIR: dirA, UPSTREAMS_FILE: join(dirA, "upstreams.json") });
    b = await startServer({ ...env, DATA_DIR: dirB, UPSTREAMS_FILE: join(dirB, "upstreams.json") });
    token = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8")).users[0].access_token;
    admin = await connectRedis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
    await admin?.quit();
    await deleteRedisPrefix(prefix);
  });

  const call = (server: RunningServer) =>
    fetch(`${server.base}/v2/test/slow`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "idempotency-key": "lease-kill-1" },
      body: JSON.stringify({ n: 1 }),
    }).then(async (r) => ({ status: r.status, replayed: r.headers.get("idempotent-replayed"), body: (await r.json()) as any, at: Date.now() }));

  async function lockedUntil(): Promise<number> {
    // SCAN answers a page at a time and a page may hold none of the matches: follow the cursor.
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, page] = await admin.scan(cursor, "MATCH", `{${prefix}}:v1:idem:*`, "COUNT", 1000);
      keys.push(...page);
      cursor = next;
    } while (cursor !== "0");
    expect(keys).toHaveLength(1);
    return Number(await admin.hget(keys[0], "lockedUntil"));
  }

  it("a retry on another instance is refused while the lease is live and answered once it lapses", async () => {
    const first = call(a).catch(() => "connection lost");
    while (hung === 0) await sleep(50);
    expect((await call(b)).body).toMatchObject({ error: "idempotency_key_in_use" });

    // A renews while its call runs: more than one lease later the key is still held.
    await sleep(LEASE_MS + 1_000);
    expect((await call(b)).status).toBe(409);

    await a.stop("SIGKILL");
    const killedAt = Date.now();
    const leaseEnd = await lockedUntil();
    expect(await first).toBe("connection lost");

    const answers: Awaited<ReturnType<typeof call>>[] = [];
    for (;;) {
      const r = await call(b);
      answers.push(r);
      if (r.status !== 409) break;
      expect(r.body).toMatchObject({ error: "idempotency_key_in_use" });
      if (Date.now() - killedAt > 30_000) throw new Error("no definitive answer 30 s after the kill");
      await sleep(200);
    }
    const definitive = answers[answers.length - 1];
    expect(definitive).toMatchObject({ status: 200, body: { answered_by: "b" } });
    // No early takeover: B answered only once the lease A last renewed had lapsed...
    expect(definitive.at).toBeGreaterThanOrEqual(leaseEnd);
    expect(answers.length).toBeGreaterThan(1);
    // ...and well within the bound (one lease, plus polling and start-up slack).
    expect(definitive.at - killedAt).toBeLessThanOrEqual(20_000);
    expect(leaseEnd - killedAt).toBeLessThanOrEqual(LEASE_MS);

    const replay = await call(b);
    expect(replay).toMatchObject({ status: 200, replayed: "true", body: { answered_by: "b" } });
  }, 60_000);
});
