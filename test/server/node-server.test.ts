/**
 * The real Node server: started as `src/node.ts` in a child process on loopback and driven with
 * real fetch. Covers first-start seeding, restart without reseeding, health, and config errors.
 */
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { runToExit, startServer, type RunningServer } from "../helpers/process.js";

const running: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
});

describe("node server", () => {
  it("seeds demo data on first start, serves batches over real HTTP, and keeps data across a restart", async () => {
    const dataDir = tempDir();
    const first = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "7" });
    running.push(first);
    const credsFile = join(dataDir, "demo-credentials.json");
    expect(existsSync(credsFile)).toBe(true);
    const creds = JSON.parse(readFileSync(credsFile, "utf8"));
    expect(creds.clients).toHaveLength(2);
    expect(creds.users).toHaveLength(7);
    for (const u of creds.users) {
      expect(Object.keys(u).sort()).toEqual(["access_token", "scopes", "user_id", "wallets"]);
      expect(u.scopes).toEqual(expect.arrayContaining(["user:read", "wallets:read", "payments:read", "payments:write", "payouts:read", "payouts:write"]));
      expect(u.wallets).toEqual([{ wallet_id: expect.stringMatching(/^wal_/), currency: "USD", balance: "1000.00" }]);
    }
    expect(Object.keys(creds.clients[0]).sort()).toEqual(["client_id", "client_secret"]);
    expect(first.output()).toContain("curl");
    expect(first.output()).toContain(`http://localhost:${first.port}`);

    const [a, b] = creds.users;
    const c = creds.clients[0];
    const res = await fetch(`${first.base}/batch/create`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "trace-123" },
      body: JSON.stringify({
        client_id: c.client_id,
        client_secret: c.client_secret,
        calls: [
          { call: "/payment/create", authorization: a.access_token, reference_id: "pay", parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount: "25.00", currency: "USD" } },
          { call: "/user", authorization: a.access_token, reference_id: "me" },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("trace-123");
    const body = (await res.json()) as any;
    expect(body.request_id).toBe("trace-123");
    expect(body.calls[0].status).toBe(200);
    expect(body.calls[1].response.user_id).toBe(a.user_id);
    const bal = await fetch(`${first.base}/v2/wallet/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${a.access_token}` },
      body: JSON.stringify({ wallet_id: a.wallets[0].wallet_id }),
    });
    expect(((await bal.json()) as any).balance).toBe("975.00");
    const paymentId = body.calls[0].response.payment_id;

    expect(await first.stop("SIGTERM")).toBe(0);

    const second = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "7" });
    running.push(second);
    expect(JSON.parse(readFileSync(credsFile, "utf8"))).toEqual(creds); // not reseeded
    const find = await fetch(`${second.base}/v2/payment/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${a.access_token}` },
      body: JSON.stringify({ payment_id: paymentId }),
    });
    expect(find.status).toBe(200);
    expect(((await find.json()) as any).amount).toBe("25.00");
    const wallet = await fetch(`${second.base}/v2/wallet/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${b.access_token}` },
      body: JSON.stringify({ wallet_id: b.wallets[0].wallet_id }),
    });
    expect(((await wallet.json()) as any).balance).toBe("1025.00");

    const health = await fetch(`${second.base}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as any).status).toBe("ok");
    const ready = await fetch(`${second.base}/readyz`);
    expect(((await ready.json()) as any).status).toBe("ready");
    await second.stop();
  });

  it("closes a kept-alive connection after a 413, so the unread body is never taken for the next request", async () => {
    const srv = await startServer({ DATA_DIR: tempDir(), DEMO_USERS: "1" });
    running.push(srv);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (body: string) =>
      new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
        const r = http.request(
          { host: "127.0.0.1", port: srv.port, path: "/v2/user", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
          (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode, connection: res.headers.connection }));
          },
        );
        r.on("error", reject);
        r.end(body);
      });
    expect(await send(JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }))).toEqual({ status: 413, connection: "close" });
    expect((await send("{}")).status).toBe(401); // a clean answer on a new connection
    expect((await send("{}")).status).toBe(401);
    agent.destroy();
    await srv.stop();
  });

  it("lets every client still writing an oversize body read its 413 (no reset, no EPIPE), and closes a connection that never finishes", async () => {
    const srv = await startServer({ DATA_DIR: tempDir(), DEMO_USERS: "1" });
    running.push(srv);
    const body = JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) });
    const once = () =>
      new Promise<number | string>((resolve) => {
        const r = http.request(
          { host: "127.0.0.1", port: srv.port, path: "/v2/user", method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? "no status"));
          },
        );
        r.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        r.end(body);
      });
    // Without a lingering close a few percent of these see EPIPE or ECONNRESET instead of the answer.
    const outcomes: (number | string)[] = [];
    for (let round = 0; round < 10; round++) outcomes.push(...(await Promise.all(Array.from({ length: 12 }, once))));
    expect(outcomes.filter((o) => o !== 413)).toEqual([]);

    // A client that declares a huge body and stops writing still gets its answer, and the server
    // closes the connection rather than waiting for bytes that never come.
    const sock = net.connect(srv.port, "127.0.0.1");
    let answer = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (answer += d));
    sock.write(`POST /v2/user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"pad":"`);
    await new Promise<void>((resolve) => sock.on("close", () => resolve()));
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain("connection: close");
    expect((await fetch(`${srv.base}/healthz`)).status).toBe(200);
    await srv.stop();
  });

  it("stops at start with a message naming a bad variable", { timeout: 120_000 }, async () => {
    // Four start-ups side by side: each is a tsx compile and a process start, slow on a busy machine.
    const [bad, badUp, badRedis, deadRedis] = await Promise.all([
      runToExit({ DATA_DIR: tempDir(), PORT: "not-a-port" }),
      runToExit({ DATA_DIR: tempDir(), PORT: "18787", UPSTREAMS_FILE: "/nonexistent/upstreams.json" }),
      runToExit({ DATA_DIR: tempDir(), PORT: "18787", STORE: "redis", REDIS_URL: "http://127.0.0.1:6379" }),
      // Well formed but nothing listens there: still a start-up failure naming it, not a hang.
      runToExit({ DATA_DIR: tempDir(), PORT: "18787", STORE: "redis", REDIS_URL: "redis://127.0.0.1:6399" }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.output).toContain("PORT");
    expect(badUp.code).toBe(1);
    expect(badUp.output).toContain("UPSTREAMS_FILE");
    expect(badRedis.code).toBe(1);
    expect(badRedis.output).toContain("REDIS_URL");
    expect(deadRedis.code).toBe(1);
    expect(deadRedis.output).toContain("REDIS_URL");
  });

  it("writes structured JSON logs with request ids and no secrets", async () => {
    const dataDir = tempDir();
    const srv = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "2", LOG_LEVEL: "info" });
    running.push(srv);
    const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
    const c = creds.clients[0];
    const token = creds.users[0].access_token;
    await fetch(`${srv.base}/batch/create`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "log-check-1" },
      body: JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/user", authorization: token }] }),
    });
    await fetch(`${srv.base}/v2/user`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    await srv.stop();
    const jsonLines = srv
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    const access = jsonLines.find((l) => l.request_id === "log-check-1" && l.msg === "request");
    expect(access).toMatchObject({ level: "info", method: "POST", path: "/batch/create", status: 200, client_id: c.client_id, calls: 1 });
    const logText = jsonLines.map((l) => JSON.stringify(l)).join("\n");
    expect(logText).not.toContain(token);
    expect(logText).not.toContain(c.client_secret);
  });
});
