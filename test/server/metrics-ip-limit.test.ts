/**
 * The real Node server (src/node.ts as a child process on loopback): the METRICS_PORT listener,
 * GET /metrics when no operator key is configured, and the per-IP limit in front of
 * authentication, keyed by the socket address unless TRUST_PROXY trusts X-Forwarded-For.
 * Different client addresses are simulated through X-Forwarded-For with TRUST_PROXY=1, since every
 * test connection comes from 127.0.0.1.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DemoCredentials } from "../../src/demo-data.js";
import { tempDir } from "../helpers/gateway.js";
import { freePort, startServer, type RunningServer } from "../helpers/process.js";
import { diffOf, parseExposition, sampleOf } from "../helpers/prometheus.js";

const running: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
});

const ADMIN_KEY = "server-test-admin-key-0123456789";

async function start(env: Record<string, string>) {
  const dataDir = tempDir();
  const server = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "2", SQLITE_SYNCHRONOUS: "NORMAL", ...env });
  running.push(server);
  const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8")) as DemoCredentials;
  return { server, creds };
}

/** A batch with a guessed client secret, from `ip` as X-Forwarded-For says. */
function guess(base: string, clientId: number, secret: string, headers: Record<string, string> = {}) {
  return fetch(`${base}/batch/create`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ client_id: clientId, client_secret: secret, calls: [{ call: "/no/such-call" }] }),
  });
}

describe("GET /metrics on Node", () => {
  it("serves the metrics without authentication on METRICS_PORT, and 404 on the main port without ADMIN_API_KEY", async () => {
    const metricsPort = await freePort();
    const { server, creds } = await start({ METRICS_PORT: String(metricsPort) });
    const main = await fetch(`${server.base}/metrics`);
    expect(main.status).toBe(404);
    expect(((await main.json()) as { error: string }).error).toBe("route_not_found");
    // Not even the right-looking bearer opens it: there is no key to match.
    expect((await fetch(`${server.base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(404);

    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      return parseExposition(await res.text());
    };
    const before = await scrape();
    const c = creds.clients[0];
    const res = await fetch(`${server.base}/batch/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/user", authorization: creds.users[0].access_token }, { call: "/user" }] }),
    });
    expect(res.status).toBe(200);
    const after = await scrape();
    expect(diffOf(before, after, "batchgate_http_requests_total", { method: "POST", route: "/batch/create", status: "200" })).toBe(1);
    expect(diffOf(before, after, "batchgate_calls_total", { call: "/user", outcome: "ok" })).toBe(1);
    expect(diffOf(before, after, "batchgate_calls_total", { call: "/user", outcome: "missing_authorization" })).toBe(1);
    expect(diffOf(before, after, "batchgate_batch_size_sum")).toBe(2);
    // prom-client's process metrics come along on Node.
    expect(sampleOf(after, "process_cpu_user_seconds_total")).toBeGreaterThan(0);

    // The listener serves nothing else.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/batch/create`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: "POST" })).status).toBe(405);
  });
});

describe("per-IP limit in front of authentication (Node)", () => {
  it("throttles guessing client secrets and tokens from one address, not another (TRUST_PROXY=1 with X-Forwarded-For)", async () => {
    const { server, creds } = await start({ IP_RATE_LIMIT_POINTS: "5", IP_RATE_LIMIT_WINDOW_S: "3600", TRUST_PROXY: "1", ADMIN_API_KEY: ADMIN_KEY });
    const c = creds.clients[0];
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    const scrape = async () => {
      const res = await fetch(`${server.base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}`, ...from(`198.51.100.${Math.floor(Math.random() * 200) + 1}`) } });
      expect(res.status).toBe(200);
      return parseExposition(await res.text());
    };
    const before = await scrape();

    for (let i = 0; i < 3; i++) expect((await guess(server.base, c.client_id, `cs_guess_${i}`, from("203.0.113.7"))).status).toBe(401);
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${server.base}/v2/user`, { method: "POST", headers: { authorization: `Bearer at_guess_${i}`, ...from("203.0.113.7") } });
      expect(r.status).toBe(401);
    }
    // The sixth request from that address is refused before any secret is checked, even the right one.
    const refused = await guess(server.base, c.client_id, c.client_secret, from("203.0.113.7"));
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { error: string; error_code: number; request_id: string };
    expect(body).toMatchObject({ error: "throttle_exceeded", error_code: 5001, request_id: expect.any(String) });
    expect(refused.headers.get("ratelimit-policy")).toBe('"ip";q=5;w=3600');
    expect(refused.headers.get("ratelimit")).toMatch(/^"ip";r=0;t=\d+$/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Every authenticating surface is behind it, and an address written further left changes nothing.
    expect((await fetch(`${server.base}/v2/user`, { method: "POST", headers: { authorization: `Bearer ${creds.users[0].access_token}`, ...from("203.0.113.7") } })).status).toBe(429);
    expect((await fetch(`${server.base}/v1/anything`, { headers: from("10.9.9.9, 203.0.113.7") })).status).toBe(429);
    expect((await fetch(`${server.base}/admin/v1/clients`, { method: "POST", headers: from("203.0.113.7") })).status).toBe(429);

    // Another address has its own budget: the right secret works from there.
    const other = await guess(server.base, c.client_id, c.client_secret, from("203.0.113.8"));
    expect(other.status).toBe(200);
    // Unauthenticated operations are not limited.
    expect((await fetch(`${server.base}/healthz`, { headers: from("203.0.113.7") })).status).toBe(200);

    const after = await scrape();
    expect(diffOf(before, after, "batchgate_rate_limit_rejections_total", { policy: "ip" })).toBe(4);
    expect(diffOf(before, after, "batchgate_http_requests_total", { method: "POST", route: "/batch/create", status: "429" })).toBe(1);
    expect(diffOf(before, after, "batchgate_http_requests_total", { method: "POST", route: "/v2/user", status: "429" })).toBe(1);
  });

  it("ignores X-Forwarded-For without TRUST_PROXY: the socket address is the key", async () => {
    const { server, creds } = await start({ IP_RATE_LIMIT_POINTS: "3", IP_RATE_LIMIT_WINDOW_S: "3600" });
    const c = creds.clients[0];
    for (let i = 0; i < 3; i++) {
      expect((await guess(server.base, c.client_id, `cs_guess_${i}`, { "x-forwarded-for": `203.0.113.${i + 1}` })).status).toBe(401);
    }
    const spoofed = await guess(server.base, c.client_id, c.client_secret, { "x-forwarded-for": "203.0.113.99" });
    expect(spoofed.status).toBe(429);
    expect(spoofed.headers.get("ratelimit-policy")).toBe('"ip";q=3;w=3600');
  });
});
