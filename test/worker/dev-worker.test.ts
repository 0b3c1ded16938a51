/**
 * `npm run dev:worker` end to end, as a developer runs it: the script starts wrangler dev (workerd),
 * seeds the demo data, writes DATA_DIR/demo-credentials.json in the same shape as `npm start`,
 * prints the banner with a curl, stops on SIGINT, and keeps its data across a restart. And a bad
 * UPSTREAMS_JSON on the real runtime: every request 503 naming it, the message in the logs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, REPO_ROOT, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker.js";
import { tempDir } from "../helpers/gateway.js";

const children: ChildProcess[] = [];
const workers: LocalWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop("SIGKILL")));
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM"); // the script stops its wrangler
});

/** Runs the dev script; resolves once it has printed the banner. */
async function startDevScript(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/dev-worker.ts"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const deadline = Date.now() + 90_000;
  while (!out.includes("Try it:\ncurl")) {
    if (child.exitCode !== null) throw new Error(`dev:worker exited early (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) throw new Error(`dev:worker did not print its banner:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => out, exited };
}

async function post(base: string, path: string, body: unknown, token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { res, body: (await res.json()) as any };
}

describe("npm run dev:worker", () => {
  it("serves the worker with demo data, writes demo-credentials.json like npm start, and keeps data across a restart", async () => {
    const dataDir = tempDir("batchgate-dev-worker-");
    const port = await freePort();
    const env = { PORT: String(port), DATA_DIR: dataDir, DEMO_USERS: "7" };
    const first = await startDevScript(env);
    const base = `http://127.0.0.1:${port}`;

    const credsFile = join(dataDir, "demo-credentials.json");
    expect(existsSync(credsFile)).toBe(true);
    const creds = JSON.parse(readFileSync(credsFile, "utf8"));
    expect(creds.clients).toHaveLength(2);
    expect(creds.users).toHaveLength(7);
    expect(Object.keys(creds.clients[0]).sort()).toEqual(["client_id", "client_secret"]);
    for (const u of creds.users) {
      expect(Object.keys(u).sort()).toEqual(["access_token", "scopes", "user_id", "wallets"]);
      expect(u.scopes).toEqual(expect.arrayContaining(["user:read", "wallets:read", "payments:read", "payments:write", "payouts:read", "payouts:write"]));
      expect(u.wallets).toEqual([{ wallet_id: expect.stringMatching(/^wal_/), currency: "USD", balance: "1000.00" }]);
    }
    expect(first.output()).toContain(`http://localhost:${port}`);
    expect(first.output()).toContain(creds.clients[0].client_secret); // the banner shows them, as npm start does

    // The banner's curl works as printed.
    const curl = /curl -s (\S+) -H 'content-type: application\/json' -d '(.+)'/.exec(first.output())!;
    expect(curl[1]).toBe(`http://localhost:${port}/batch/create`);
    const tried = await post(base, "/batch/create", JSON.parse(curl[2]));
    expect(tried.res.status).toBe(200);
    expect(tried.body.calls.map((c: any) => c.status)).toEqual([200, 200, 200]);

    const [a, b] = creds.users;
    const c = creds.clients[0];
    const pay = await post(base, "/batch/create", {
      client_id: c.client_id,
      client_secret: c.client_secret,
      calls: [{ call: "/payment/create", authorization: a.access_token, parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount: "25.00", currency: "USD" } }],
    });
    expect(pay.body.calls[0].status).toBe(200);
    const paymentId = pay.body.calls[0].response.payment_id;

    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow(); // wrangler and workerd are gone

    const second = await startDevScript(env);
    expect(JSON.parse(readFileSync(credsFile, "utf8"))).toEqual(creds); // not reseeded
    expect(second.output()).toContain(creds.clients[0].client_secret);
    const found = await post(base, "/v2/payment/find", { payment_id: paymentId }, a.access_token);
    expect(found.res.status).toBe(200);
    expect(found.body.amount).toBe("25.00");
    const wa = await post(base, "/v2/wallet/find", { wallet_id: a.wallets[0].wallet_id }, a.access_token);
    const wb = await post(base, "/v2/wallet/find", { wallet_id: b.wallets[0].wallet_id }, b.access_token);
    expect([wa.body.balance, wb.body.balance]).toEqual(["974.00", "1026.00"]); // the banner's 1.00 too
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 180_000);

  it("on a bad UPSTREAMS_JSON answers every request 503 naming it, and logs the whole message", async () => {
    const worker = await startLocalWorker({
      dataDir: tempDir("batchgate-worker-badcfg-"),
      vars: { UPSTREAMS_JSON: JSON.stringify({ upstreams: [{ call: "/x", url: "ftp://nope" }] }) },
      acceptMisconfigured: true,
    });
    workers.push(worker);
    for (const [path, method] of [["/healthz", "GET"], ["/batch/create", "POST"], ["/v2/user", "POST"]]) {
      const res = await fetch(`${worker.base}${path}`, { method, headers: { "content-type": "application/json" }, body: method === "POST" ? "{}" : undefined });
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body).toMatchObject({ error: "service_unavailable", error_code: 5002 });
      expect(body.error_description).toContain("UPSTREAMS_JSON");
      expect(body.error_description).not.toContain("ftp"); // details stay in the logs
    }
    let logged: any;
    for (let i = 0; i < 300 && !logged; i++) {
      logged = worker
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l))
        .find((l) => l.level === "error" && l.variable === "UPSTREAMS_JSON");
      if (!logged) await new Promise((r) => setTimeout(r, 100));
    }
    expect(logged.error).toMatch(/^Invalid configuration: UPSTREAMS_JSON is invalid at upstreams\.0\.url/);

    // Without acceptMisconfigured (the dev script's way), starting fails fast with the message.
    await expect(
      startLocalWorker({ dataDir: tempDir("batchgate-worker-badcfg-"), vars: { UPSTREAMS_JSON: "{nope" } }),
    ).rejects.toThrow(/the worker answers 503: .*\(UPSTREAMS_JSON\)/);
  }, 120_000);
});
