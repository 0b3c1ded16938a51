/**
 * The gateway on STORE=redis when Redis goes away: answers come back promptly as 503 (never a
 * hang, never a 500), /readyz says so, and service resumes when Redis returns. Uses a private
 * redis-server this test starts and kills (needs the redis-server binary).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { freePort, startServer, type RunningServer } from "../helpers/process.js";
import { diffOf, parseExposition } from "../helpers/prometheus.js";
import { REQUIRE_REDIS } from "../helpers/redis.js";

const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;
if (!hasRedisServer && !REQUIRE_REDIS) console.warn("Gateway Redis-outage test SKIPPED: no redis-server binary on PATH.");

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const ok = spawnSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'PING\\r\\n' >&3 && read -t 1 l <&3 && [[ $l == +PONG* ]]`]).status === 0;
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("private redis-server did not start");
}

describe.skipIf(!hasRedisServer && !REQUIRE_REDIS)("gateway during a Redis outage", () => {
  let redis: ChildProcess | undefined;
  let gw: RunningServer | undefined;
  afterAll(async () => {
    redis?.kill("SIGKILL");
    await gw?.stop("SIGKILL");
  });

  it("answers 503 promptly while Redis is down and recovers when it is back", async () => {
    const port = await freePort();
    redis = await startRedis(port);
    const dataDir = tempDir();
    const metricsPort = await freePort();
    gw = await startServer({ STORE: "redis", REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: "outage", DATA_DIR: dataDir, DEMO_USERS: "2", METRICS_PORT: String(metricsPort) });
    const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
    const [u] = creds.users;
    const c = creds.clients[0];
    const batch = () =>
      fetch(`${gw!.base}/batch/create`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/user", authorization: u.access_token }] }),
        signal: AbortSignal.timeout(15_000), // a hang would fail the test here
      });
    const single = () =>
      fetch(`${gw!.base}/v2/wallet/find`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${u.access_token}` },
        body: JSON.stringify({ wallet_id: u.wallets[0].wallet_id }),
        signal: AbortSignal.timeout(15_000),
      });
    expect((await batch()).status).toBe(200);

    const before = await scrape();
    redis.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    const down = await batch();
    expect(down.status).toBe(503);
    expect(((await down.json()) as any).error).toBe("service_unavailable");
    const downSingle = await single();
    expect(downSingle.status).toBe(503);
    // One whole request (the batch's client lookup) and one call (the single call's token lookup).
    const afterOutage = await scrape();
    expect(diffOf(before, afterOutage, "batchgate_store_errors_total")).toBe(2);
    expect(diffOf(before, afterOutage, "batchgate_calls_total", { call: "/wallet/find", outcome: "service_unavailable" })).toBe(1);
    expect((await fetch(`${gw.base}/readyz`, { signal: AbortSignal.timeout(15_000) })).status).toBe(503);
    expect((await fetch(`${gw.base}/healthz`)).status).toBe(200);

    // Redis comes back empty (it keeps nothing on disk here), so the data is gone, but the
    // gateway reconnects and answers again instead of staying broken.
    redis = await startRedis(port);
    let ready = 503;
    for (let i = 0; i < 60 && ready !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      ready = (await fetch(`${gw.base}/readyz`)).status;
    }
    expect(ready).toBe(200);
    expect((await batch()).status).toBe(401); // the client is gone with the data: a clear 401, not a 5xx
  }, 90_000);
});
