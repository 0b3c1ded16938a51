/**
 * @module
 * `npm run bench`: batch path vs. separate requests vs. a bare Hono server, against real servers.
 *
 * Starts `node --import tsx src/node.ts` as a child process (so the measured pid is the server
 * itself, not a wrapper) on a fresh temp DATA_DIR and a free 127.0.0.1 port, with DEMO_USERS=50,
 * LOG_LEVEL=warn and both rate limits at 1,000,000,000 points so the bench is never throttled.
 * LOG_LEVEL=warn because at `info` the gateway writes one pino line per request, and the bench
 * would then largely measure logging to a pipe rather than the gateway. Also starts the bare Hono
 * baseline (scripts/bare-hono.ts) the same way.
 *
 *   A  POST /batch/create: one 50-call batch of /wallet/find, each call with a different user's
 *      token and that user's wallet, client credentials in the body.
 *   B  the same 50 calls as 50 separate POST /v2/wallet/find requests (Bearer token), cycled.
 *   M  a mixed 50-call batch: 40 × /wallet/find, 9 × /payment/create of 0.01 USD around a ring of
 *      users (balances stay put), 1 × /payout/create of 0.13 USD (the sandbox rail declines it and
 *      the wallet is refunded: the whole payout path runs, and no money leaves).
 *   H  the bare Hono server: POST /echo with a small JSON body.
 *   R  A's batch at a fixed offered rate (BENCH_RATE batches/s, open loop: requests are sent on
 *      schedule whether or not earlier ones have answered, each latency counted from the instant
 *      it was due, so a stall shows up in the figure). Its p99 is the latency figure to read:
 *      closed-loop p99 at 32 connections is mostly queueing (32 batches always in flight).
 *
 * Every scenario is checked for correct answers before and after it is measured, and any non-2xx,
 * error or timeout during warm-up or measurement fails the run. Each scenario gets a warm-up,
 * then a measured window bracketed by reads of the measured server's utime+stime
 * (/proc/<pid>/stat) and followed by its VmRSS (/proc/<pid>/status).
 *
 * Ratios (printed, and what --check compares): from server CPU per call, i.e. calls per second
 * of one core, which the other load on a shared 2-core machine skews far less than calls/s:
 *   batch_vs_separate   B's CPU per call ÷ A's
 *   batch_vs_bare_hono  H's CPU per request ÷ A's CPU per call
 * The wall-clock calls/s ratios are printed too.
 *
 * Flags:
 *   --check            compare the ratios with scripts/bench-baseline.json (for this store) and
 *                      exit 1 when one is more than 20 % below its baseline
 *   --write-baseline   write this run's ratios into scripts/bench-baseline.json (for this store)
 *
 * Environment (all optional):
 *   BENCH_STORE            sqlite (default) or redis (REDIS_URL, default redis://127.0.0.1:6379;
 *                          a unique key prefix, deleted afterwards)
 *   BENCH_SECONDS          measured seconds per scenario (default 10)
 *   BENCH_WARMUP_SECONDS   warm-up seconds per scenario (default 3; 0 skips it)
 *   BENCH_CONNECTIONS      autocannon connections (default 32)
 *   BENCH_RATE             R's offered rate in batches/s (default 1000, i.e. 50,000 calls/s)
 *   BENCH_VERIFY_BODIES=1  also check every response body during the runs (costs client CPU,
 *                          which shares the machine with the server; off by default)
 *   BENCH_ENFORCE_TARGETS=1  exit 2 when a target is missed (default: report only)
 *   BENCH_SERVER_NODE_ARGS extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
 *   BENCH_KEEP_DATA=1      keep the temp DATA_DIR (SQLite + demo credentials) afterwards
 *   BENCH_SCENARIOS=A      run only some of A, B, M, H (default all), e.g. to profile one path;
 *                          ratios and targets need the scenarios they compare
 *   BENCH_SERVER_ENTRY     server entry relative to the repo (default src/node.ts), e.g. a
 *                          what-if variant of it
 *
 * Everything lands in a fresh temp directory (printed): server.log, bench-results.json and,
 * only while running (or with BENCH_KEEP_DATA=1), data/. Only 127.0.0.1 (and Redis) is contacted.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { freePort } from "./lib/local-worker.js";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { ConfigSchema } from "../src/config.js";

// ---------------------------------------------------------------------------------------------
// autocannon has no bundled types and @types/autocannon is not installed: the part used here.

interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface CannonOptions {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: CannonRequest[];
  timeout?: number;
  verifyBody?: (body: string) => boolean;
}

interface CannonHist {
  average: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
  total: number;
}

interface CannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  resets: number;
  "2xx": number;
  statusCodeStats: Record<string, { count: number }>;
  latency: CannonHist;
  requests: CannonHist & { sent: number };
}

type Autocannon = (opts: CannonOptions, cb: (err: Error | null, result: CannonResult) => void) => { stop(): void };
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

// ---------------------------------------------------------------------------------------------
// Settings.

function envInt(name: string, def: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v.trim() === "") return def;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
    throw new BenchError(`${name} must be a whole number between ${min} and ${max}; got ${JSON.stringify(v)}.`);
  }
  return Number(v);
}

class BenchError extends Error {}

const HOST = "127.0.0.1";
const USERS = 50;
const HIGH_LIMIT = "1000000000";
const LOG_LEVEL = "warn";
/** Targets per store. Embedded (SQLite): the issue's; Redis and the mixed batch: set from measurements (README). */
const TARGETS = {
  sqlite: { aCpuUs: 8, aCallsPerS: 100_000, aP99Ms: 10, ratio: 10, mCpuUs: 100, rP99Ms: 10 },
  redis: { aCpuUs: 80, aCallsPerS: 10_000, aP99Ms: 400, ratio: 2.4, mCpuUs: 80, rP99Ms: 100 },
} as const;
/** --check fails when a ratio is more than this fraction below its baseline. */
const CHECK_TOLERANCE = 0.2;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BASELINE_FILE = join(REPO, "scripts", "bench-baseline.json");
type StoreKind = keyof typeof TARGETS;

interface DemoCredentials {
  clients: { client_id: number; client_secret: string }[];
  users: { user_id: string; access_token: string; scopes: string[]; wallets: { wallet_id: string; currency: string; balance: string }[] }[];
}

interface ScenarioFigures {
  name: string;
  description: string;
  calls_per_request: number;
  measured_seconds: number;
  requests: number;
  calls: number;
  requests_per_s: number;
  calls_per_s: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  latency_mean_ms: number;
  server_cpu_s: number;
  server_cpu_utilisation: number;
  server_cpu_us_per_call: number;
  server_rss_mb: number;
  server_rss_peak_mb: number;
  /** R only: the offered rate (requests per second). */
  offered_per_s?: number;
}

// ---------------------------------------------------------------------------------------------
// Server process.

let server: ChildProcess | null = null;
let serverExited: Promise<void> = Promise.resolve();
let bare: ChildProcess | null = null;
let bareExited: Promise<void> = Promise.resolve();
let root = "";
let dataDir = "";
let logFile = "";
let keepData = false;
let redisPrefix = "";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

function spawnLogged(args: string[], env: Record<string, string | undefined>): { child: ChildProcess; exited: Promise<void> } {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ["ignore", fd, fd] });
    return { child, exited: new Promise((res) => child.once("exit", () => res())) };
  } finally {
    closeSync(fd);
  }
}

function startServer(port: number, extraNodeArgs: string[], entry: string, store: StoreKind): ChildProcess {
  const env: Record<string, string | undefined> = { ...process.env };
  // Nothing from the caller's environment may reconfigure the server under test.
  for (const key of Object.keys(ConfigSchema.shape)) delete env[key];
  Object.assign(env, {
    PORT: String(port),
    HOST,
    DATA_DIR: dataDir,
    STORE: store,
    DEMO_USERS: String(USERS),
    LOG_LEVEL,
    CLIENT_RATE_LIMIT_POINTS: HIGH_LIMIT,
    TOKEN_RATE_LIMIT_POINTS: HIGH_LIMIT,
    IP_RATE_LIMIT_POINTS: HIGH_LIMIT,
    ...(store === "redis" ? { REDIS_URL, REDIS_PREFIX: redisPrefix } : {}),
  });
  const { child, exited } = spawnLogged([...extraNodeArgs, "--import", "tsx", entry], env);
  serverExited = exited;
  return child;
}

function startBare(port: number): ChildProcess {
  const { child, exited } = spawnLogged(["--import", "tsx", "scripts/bare-hono.ts"], { PATH: process.env.PATH, PORT: String(port), HOST });
  bareExited = exited;
  return child;
}

/** Deletes the bench's Redis keys (its own unique prefix). */
async function dropRedisKeys(): Promise<void> {
  if (!redisPrefix) return;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `{${redisPrefix}}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

async function stopChild(child: ChildProcess | null, exited: Promise<void>): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killed = await Promise.race([exited.then(() => true), sleep(7000).then(() => false)]);
  if (!killed) {
    child.kill("SIGKILL");
    await Promise.race([exited, sleep(2000)]);
  }
}

async function stopServer(): Promise<void> {
  await stopChild(server, serverExited);
  await stopChild(bare, bareExited);
}

async function waitReady(base: string, timeoutMs: number, proc: ChildProcess | null = server): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
      throw new BenchError(`the server exited during start (code ${proc.exitCode}, signal ${proc.signalCode})`);
    }
    try {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(100);
  }
  throw new BenchError(`GET /readyz did not answer 200 within ${timeoutMs / 1000} s (last: ${last})`);
}

// ---------------------------------------------------------------------------------------------
// /proc readings.

const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of the whole process (all threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based).
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** VmRSS and VmHWM in MB. */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

type ScenarioName = "A" | "B" | "M" | "H" | "R";
const ALL_SCENARIOS: ScenarioName[] = ["A", "B", "M", "H", "R"];

interface Scenario {
  name: ScenarioName;
  /** The measured process: the gateway, or the bare Hono server for H. */
  pid: number;
  description: string;
  callsPerRequest: number;
  cannon: Omit<CannonOptions, "connections" | "duration">;
  /** Sends the scenario's traffic once with fetch and throws unless every answer is right. */
  verify(): Promise<string>;
  /** Cheap per-response check for BENCH_VERIFY_BODIES=1. */
  bodyOk(body: string): boolean;
}

function scenarios(base: string, pid: number, bareBase: string, barePid: number, creds: DemoCredentials): Scenario[] {
  const client = creds.clients[0];
  const users = creds.users.slice(0, USERS);
  if (!client) throw new BenchError("demo-credentials.json has no client");
  if (users.length < USERS) throw new BenchError(`demo-credentials.json has ${users.length} users; ${USERS} needed`);
  const calls = users.map((u, i) => {
    const wallet = u.wallets[0]?.wallet_id;
    if (!wallet) throw new BenchError(`user ${u.user_id} has no wallet`);
    return { token: u.access_token, wallet, ref: `c${i}` };
  });

  const batchBody = JSON.stringify({
    client_id: client.client_id,
    client_secret: client.client_secret,
    calls: calls.map((c) => ({ call: "/wallet/find", authorization: c.token, reference_id: c.ref, parameters: { wallet_id: c.wallet } })),
  });
  const json = { "content-type": "application/json" };

  const a: Scenario = {
    name: "A",
    pid,
    description: `POST /batch/create, one batch of ${USERS} × /wallet/find (a different user's token per call)`,
    callsPerRequest: USERS,
    cannon: { url: `${base}/batch/create`, method: "POST", headers: json, body: batchBody },
    async verify() {
      const r = await fetch(`${base}/batch/create`, { method: "POST", headers: json, body: batchBody, signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 200) throw new BenchError(`A: POST /batch/create answered ${r.status}: ${text.slice(0, 500)}`);
      const out = JSON.parse(text) as { calls?: { reference_id: string | null; status: number; response: { wallet_id?: string } }[] };
      if (!Array.isArray(out.calls) || out.calls.length !== USERS) throw new BenchError(`A: expected ${USERS} results; got ${text.slice(0, 500)}`);
      out.calls.forEach((res, i) => {
        if (res.status !== 200 || res.reference_id !== calls[i].ref || res.response?.wallet_id !== calls[i].wallet) {
          throw new BenchError(`A: call ${i} is wrong: ${JSON.stringify(res).slice(0, 500)}`);
        }
      });
      return `batch 200, ${USERS}/${USERS} calls 200 with the right wallet`;
    },
    bodyOk: (body) => !/"status":[1-5]\d\d/.test(body.replace(/"status":200/g, "")),
  };

  const requests: CannonRequest[] = calls.map((c) => ({
    method: "POST",
    path: "/v2/wallet/find",
    headers: { ...json, authorization: `Bearer ${c.token}` },
    body: JSON.stringify({ wallet_id: c.wallet }),
  }));
  const b: Scenario = {
    name: "B",
    pid,
    description: `${USERS} separate POST /v2/wallet/find requests (Bearer token), cycled`,
    callsPerRequest: 1,
    cannon: { url: base, requests },
    async verify() {
      for (let i = 0; i < requests.length; i++) {
        const q = requests[i];
        const r = await fetch(`${base}${q.path}`, { method: "POST", headers: q.headers, body: q.body, signal: AbortSignal.timeout(10_000) });
        const text = await r.text();
        if (r.status !== 200) throw new BenchError(`B: request ${i} answered ${r.status}: ${text.slice(0, 500)}`);
        const w = (JSON.parse(text) as { wallet_id?: string }).wallet_id;
        if (w !== calls[i].wallet) throw new BenchError(`B: request ${i} returned the wrong wallet: ${text.slice(0, 500)}`);
      }
      return `${USERS}/${USERS} requests 200 with the right wallet`;
    },
    bodyOk: (body) => body.includes('"wallet_id":"wal'),
  };

  // M: 40 lookups, a ring of 9 payments of 0.01 (each of those users pays one and receives one,
  // so balances stay put), one payout the sandbox rail declines (refunded).
  const ring = users.slice(40, 49);
  const mixedCalls = [
    ...calls.slice(0, 40).map((c) => ({ call: "/wallet/find", authorization: c.token, reference_id: c.ref, parameters: { wallet_id: c.wallet } })),
    ...ring.map((u, j) => ({
      call: "/payment/create",
      authorization: u.access_token,
      reference_id: `p${j}`,
      parameters: { from_wallet_id: u.wallets[0].wallet_id, to_wallet_id: ring[(j + 1) % ring.length].wallets[0].wallet_id, amount: "0.01", currency: "USD" },
    })),
    {
      call: "/payout/create",
      authorization: users[49].access_token,
      reference_id: "po",
      parameters: { wallet_id: calls[49].wallet, amount: "0.13", currency: "USD", rail: "paypal", destination: { email: "bench@example.com" } },
    },
  ];
  const mixedBody = JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, calls: mixedCalls });
  const m: Scenario = {
    name: "M",
    pid,
    description: `POST /batch/create, a mixed batch of ${mixedCalls.length}: 40 × /wallet/find, 9 × /payment/create, 1 × /payout/create (declined, refunded)`,
    callsPerRequest: mixedCalls.length,
    cannon: { url: `${base}/batch/create`, method: "POST", headers: json, body: mixedBody },
    async verify() {
      const r = await fetch(`${base}/batch/create`, { method: "POST", headers: json, body: mixedBody, signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 200) throw new BenchError(`M: POST /batch/create answered ${r.status}: ${text.slice(0, 500)}`);
      const out = JSON.parse(text) as { calls?: { reference_id: string | null; status: number; response: { error?: string; status?: string } }[] };
      if (!Array.isArray(out.calls) || out.calls.length !== mixedCalls.length) throw new BenchError(`M: expected ${mixedCalls.length} results; got ${text.slice(0, 500)}`);
      out.calls.forEach((res, i) => {
        const want = mixedCalls[i];
        const ok =
          res.reference_id === want.reference_id &&
          (want.call === "/payout/create" ? res.status === 422 && res.response.error === "payout_declined" : res.status === 200) &&
          (want.call !== "/payment/create" || res.response.status === "completed");
        if (!ok) throw new BenchError(`M: call ${i} (${want.call}) is wrong: ${JSON.stringify(res).slice(0, 500)}`);
      });
      return `batch 200: 40 lookups and 9 payments 200, the payout declined (422) as the sandbox rail says`;
    },
    bodyOk: (body) => body.includes('"error":"payout_declined"') && !/"status":5\d\d/.test(body),
  };

  const echoBody = JSON.stringify({ wallet_id: calls[0].wallet });
  const h: Scenario = {
    name: "H",
    pid: barePid,
    description: "bare Hono server (scripts/bare-hono.ts): POST /echo with a small JSON body",
    callsPerRequest: 1,
    cannon: { url: `${bareBase}/echo`, method: "POST", headers: json, body: echoBody },
    async verify() {
      const r = await fetch(`${bareBase}/echo`, { method: "POST", headers: json, body: echoBody, signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 200 || (JSON.parse(text) as { wallet_id?: string }).wallet_id !== calls[0].wallet) throw new BenchError(`H: POST /echo answered ${r.status}: ${text.slice(0, 200)}`);
      return "200 with the echoed field";
    },
    bodyOk: (body) => body.includes('"ok":true'),
  };
  const r: Scenario = { ...a, name: "R", description: `A's batch at a fixed offered rate (open loop)` };
  return [a, b, m, h, r];
}

interface RateResult {
  offered: number;
  sent: number;
  ok: number;
  failed: string[];
  latencies: number[];
  wall: number;
}

/**
 * Open-loop load: `rate` requests per second, each sent when due (a 1 ms tick sends every request
 * that has come due) on a keep-alive socket, whether or not earlier ones have answered. Latency
 * is from the instant the request was due to the last byte of its answer.
 */
function runFixedRate(opts: CannonOptions, rate: number, seconds: number): Promise<RateResult> {
  const url = new URL(opts.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const body = Buffer.from(opts.body ?? "");
  const headers = { ...opts.headers, "content-length": String(body.length) };
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  const failed: string[] = [];
  let sent = 0;
  let answered = 0;
  let ok = 0;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const finish = () => {
      clearInterval(tick);
      agent.destroy();
      resolve({ offered: rate, sent, ok, failed, latencies, wall: (performance.now() - t0) / 1000 });
    };
    const answer = (dueAt: number, problem: string | null) => {
      answered++;
      if (problem === null) {
        ok++;
        latencies.push(performance.now() - dueAt);
      } else if (failed.length < 20) failed.push(problem);
      if (answered === total) finish();
    };
    const send = (dueAt: number) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: opts.method ?? "POST", headers, agent, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          answer(dueAt, res.statusCode === 200 && (!opts.verifyBody || opts.verifyBody(text)) ? null : `HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        });
        res.on("error", (e) => answer(dueAt, e.message));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => answer(dueAt, e.message));
      req.end(body);
    };
    const interval = 1000 / rate;
    const tick = setInterval(() => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) send(t0 + sent++ * interval);
    }, 1);
    if (total === 0) finish();
  });
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);

async function measureRate(s: Scenario, rate: number, seconds: number, warmup: number, verifyBodies: boolean): Promise<ScenarioFigures> {
  const opts: CannonOptions = { ...s.cannon, connections: 0, duration: seconds, ...(verifyBodies ? { verifyBody: s.bodyOk } : {}) };
  const clean = (label: string, r: RateResult) => {
    if (r.failed.length > 0 || r.ok !== r.sent) throw new BenchError(`${label}: ${r.sent - r.ok} of ${r.sent} requests failed (${r.failed.slice(0, 3).join("; ")})`);
  };
  log(`  ${s.name}: verify … ${await s.verify()}`);
  if (warmup > 0) {
    log(`  ${s.name}: warm-up ${warmup} s at ${fmt(rate)} batches/s …`);
    clean(`${s.name} warm-up`, await runFixedRate(opts, rate, warmup));
  }
  log(`  ${s.name}: measuring ${seconds} s at ${fmt(rate)} batches/s …`);
  const cpu0 = cpuSeconds(s.pid);
  const r = await runFixedRate(opts, rate, seconds);
  const cpu1 = cpuSeconds(s.pid);
  const mem = memoryMb(s.pid);
  clean(`${s.name} measured run`, r);
  log(`  ${s.name}: verify again … ${await s.verify()}`);
  const sorted = [...r.latencies].sort((x, y) => x - y);
  const calls = r.ok * s.callsPerRequest;
  const cpu = cpu1 - cpu0;
  return {
    name: s.name,
    description: `${s.description}: ${fmt(rate)} batches/s offered (${fmt(rate * s.callsPerRequest)} calls/s)`,
    calls_per_request: s.callsPerRequest,
    measured_seconds: round(r.wall, 3),
    requests: r.ok,
    calls,
    requests_per_s: round(r.ok / r.wall, 1),
    calls_per_s: round(calls / r.wall, 1),
    latency_p50_ms: round(percentile(sorted, 50), 2),
    latency_p99_ms: round(percentile(sorted, 99), 2),
    latency_mean_ms: round(sorted.reduce((x, y) => x + y, 0) / Math.max(1, sorted.length), 2),
    server_cpu_s: round(cpu, 2),
    server_cpu_utilisation: round(cpu / r.wall, 3),
    server_cpu_us_per_call: round((cpu * 1e6) / calls, 2),
    server_rss_mb: round(mem.rss, 1),
    server_rss_peak_mb: round(mem.peak, 1),
    offered_per_s: rate,
  };
}

function runCannon(opts: CannonOptions): Promise<CannonResult> {
  return new Promise((res, rej) => {
    autocannon(opts, (err, result) => (err ? rej(err) : res(result)));
  });
}

/** Throws unless every response of the run was a 2xx (and, when checked, had a correct body). */
function assertClean(label: string, r: CannonResult) {
  const problems: string[] = [];
  if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx responses (${JSON.stringify(r.statusCodeStats)})`);
  if (r.errors > 0) problems.push(`${r.errors} errors`);
  if (r.timeouts > 0) problems.push(`${r.timeouts} timeouts`);
  if (r.mismatches > 0) problems.push(`${r.mismatches} responses with a wrong body`);
  if (r["2xx"] === 0) problems.push("no successful responses at all");
  if (problems.length) throw new BenchError(`${label}: ${problems.join("; ")}`);
}

async function measure(s: Scenario, seconds: number, warmup: number, connections: number, verifyBodies: boolean): Promise<ScenarioFigures> {
  const opts = (duration: number): CannonOptions => ({
    ...s.cannon,
    connections,
    duration,
    timeout: 30,
    ...(verifyBodies ? { verifyBody: s.bodyOk } : {}),
  });
  log(`  ${s.name}: verify … ${await s.verify()}`);
  if (warmup > 0) {
    log(`  ${s.name}: warm-up ${warmup} s …`);
    assertClean(`${s.name} warm-up`, await runCannon(opts(warmup)));
  }
  log(`  ${s.name}: measuring ${seconds} s …`);
  const pid = s.pid;
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  const r = await runCannon(opts(seconds));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  // autocannon drops the requests still in flight when time is up; give the server 100 ms to
  // finish them so their CPU is counted (this errs towards a higher CPU per call).
  await sleep(100);
  const cpu1 = cpuSeconds(pid);
  const mem = memoryMb(pid);
  assertClean(`${s.name} measured run`, r);
  log(`  ${s.name}: verify again … ${await s.verify()}`);

  const okRequests = r["2xx"];
  const calls = okRequests * s.callsPerRequest;
  const cpu = cpu1 - cpu0;
  return {
    name: s.name,
    description: s.description,
    calls_per_request: s.callsPerRequest,
    measured_seconds: round(wall, 3),
    requests: okRequests,
    calls,
    requests_per_s: round(okRequests / wall, 1),
    calls_per_s: round(calls / wall, 1),
    latency_p50_ms: r.latency.p50,
    latency_p99_ms: r.latency.p99,
    latency_mean_ms: round(r.latency.mean, 2),
    server_cpu_s: round(cpu, 2),
    server_cpu_utilisation: round(cpu / (wall + 0.1), 3),
    server_cpu_us_per_call: round((cpu * 1e6) / calls, 2),
    server_rss_mb: round(mem.rss, 1),
    server_rss_peak_mb: round(mem.peak, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// Output.

const log = (s: string) => process.stdout.write(s + "\n");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;
const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

function printScenario(f: ScenarioFigures) {
  log(`\nScenario ${f.name}: ${f.description}`);
  if (f.calls_per_request > 1) log(`  batches/s          ${fmt(f.requests_per_s, 1)}   (${fmt(f.requests)} batches in ${f.measured_seconds} s)`);
  else log(`  requests/s         ${fmt(f.requests_per_s, 1)}   (${fmt(f.requests)} requests in ${f.measured_seconds} s)`);
  log(`  calls/s            ${fmt(f.calls_per_s, 1)}`);
  log(`  latency p50 / p99  ${f.latency_p50_ms} ms / ${f.latency_p99_ms} ms   (mean ${f.latency_mean_ms} ms, per HTTP request)`);
  log(`  server CPU/call    ${fmt(f.server_cpu_us_per_call, 2)} µs   (${f.server_cpu_s} s CPU, ${fmt(f.server_cpu_utilisation * 100, 0)}% of one core)`);
  log(`  server RSS         ${fmt(f.server_rss_mb, 1)} MB   (peak ${fmt(f.server_rss_peak_mb, 1)} MB)`);
  if (f.offered_per_s !== undefined) {
    if (f.requests_per_s < f.offered_per_s * 0.97) {
      log(`  note: answered ${fmt(f.requests_per_s, 1)} of ${fmt(f.offered_per_s)} offered per second: the server (or the machine) could not keep up,`);
      log(`        so this p99 is queueing behind the backlog`);
    }
    return;
  }
  if (f.server_cpu_utilisation < 0.9) {
    log(`  note: the server used under 90% of a core, so it was not the only bottleneck (load generator or other processes);`);
    log(`        calls/s understates its capacity here, CPU/call is still valid`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main.

function cleanup() {
  for (const child of [server, bare]) {
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  if (dataDir && !keepData && existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
}

interface Ratios {
  batch_vs_separate: number;
  batch_vs_bare_hono: number;
}

interface Baseline {
  note: string;
  tolerance: number;
  stores: Partial<Record<StoreKind, Ratios & { measured_at: string; command: string }>>;
}

function readBaseline(): Baseline {
  if (!existsSync(BASELINE_FILE)) return { note: "", tolerance: CHECK_TOLERANCE, stores: {} };
  return JSON.parse(readFileSync(BASELINE_FILE, "utf8")) as Baseline;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const unknown = argv.filter((a) => a !== "--check" && a !== "--write-baseline");
  if (unknown.length) throw new BenchError(`unknown argument(s) ${unknown.join(" ")}; the flags are --check and --write-baseline.`);
  const check = argv.includes("--check");
  const writeBaseline = argv.includes("--write-baseline");
  const seconds = envInt("BENCH_SECONDS", 10, 1, 3600);
  const warmup = envInt("BENCH_WARMUP_SECONDS", 3, 0, 600);
  const connections = envInt("BENCH_CONNECTIONS", 32, 1, 10_000);
  const rate = envInt("BENCH_RATE", 1000, 1, 100_000);
  const verifyBodies = process.env.BENCH_VERIFY_BODIES === "1";
  const enforce = process.env.BENCH_ENFORCE_TARGETS === "1";
  keepData = process.env.BENCH_KEEP_DATA === "1";
  const store = (process.env.BENCH_STORE ?? "sqlite") as StoreKind;
  if (store !== "sqlite" && store !== "redis") throw new BenchError(`BENCH_STORE must be sqlite or redis; got ${JSON.stringify(process.env.BENCH_STORE)}.`);
  const only = (process.env.BENCH_SCENARIOS ?? ALL_SCENARIOS.join(",")).toUpperCase().split(/[\s,]+/).filter(Boolean) as ScenarioName[];
  if (only.length === 0 || only.some((x) => !ALL_SCENARIOS.includes(x))) {
    throw new BenchError(`BENCH_SCENARIOS must list some of ${ALL_SCENARIOS.join(", ")}; got ${JSON.stringify(process.env.BENCH_SCENARIOS)}.`);
  }
  if ((check || writeBaseline) && !["A", "B", "H"].every((x) => only.includes(x as ScenarioName))) {
    throw new BenchError("--check and --write-baseline need scenarios A, B and H.");
  }
  const entry = process.env.BENCH_SERVER_ENTRY || "src/node.ts";
  if (!existsSync(resolve(REPO, entry)) || !resolve(REPO, entry).startsWith(REPO + "/")) throw new BenchError(`BENCH_SERVER_ENTRY ${entry} is not a file in the repo.`);
  const extraNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);

  // Hard stop: the run is bounded even if something hangs.
  const budgetS = 60 + only.length * (seconds + warmup + 60);
  setTimeout(() => {
    process.stderr.write(`\nbench: gave up after ${budgetS} s\n`);
    cleanup();
    process.exit(3);
  }, budgetS * 1000).unref();

  root = mkdtempSync(join(tmpdir(), "batchgate-bench-"));
  dataDir = join(root, "data");
  logFile = join(root, "server.log");
  if (store === "redis") redisPrefix = `bench${Date.now().toString(36)}${process.pid}`;
  const port = await freePort();
  const base = `http://${HOST}:${port}`;
  const barePort = await freePort();
  const bareBase = `http://${HOST}:${barePort}`;

  log(`Batchgate bench — Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? "?"}), CLK_TCK ${CLK_TCK}`);
  log(`  ${seconds} s measured after ${warmup} s warm-up per scenario, ${connections} connections, pipelining 1`);
  log(`  server: node ${[...extraNodeArgs, "--import", "tsx", entry].join(" ")} on ${base}; bare Hono on ${bareBase}`);
  log(`  STORE=${store}${store === "redis" ? ` (${REDIS_URL}, prefix ${redisPrefix})` : ""} DEMO_USERS=${USERS} LOG_LEVEL=${LOG_LEVEL} CLIENT_RATE_LIMIT_POINTS=TOKEN_RATE_LIMIT_POINTS=IP_RATE_LIMIT_POINTS=${HIGH_LIMIT}, other settings default`);
  log(`  temp dir: ${root}`);
  log(`  load average before start: ${loadavg().map((x) => x.toFixed(2)).join(" ")} (other work on this machine skews every figure)`);

  server = startServer(port, extraNodeArgs, entry, store);
  const pid = server.pid;
  if (!pid) throw new BenchError("the server did not start");
  bare = startBare(barePort);
  const barePid = bare.pid;
  if (!barePid) throw new BenchError("the bare Hono server did not start");
  await waitReady(base, 30_000);
  await waitReady(bareBase, 30_000, bare);
  const credsFile = join(dataDir, "demo-credentials.json");
  if (!existsSync(credsFile)) throw new BenchError(`${credsFile} was not written`);
  const creds = JSON.parse(readFileSync(credsFile, "utf8")) as DemoCredentials;
  const startMem = memoryMb(pid);
  log(`  server pid ${pid} ready, RSS ${fmt(startMem.rss, 1)} MB; bare Hono pid ${barePid}`);

  const figures: Partial<Record<ScenarioName, ScenarioFigures>> = {};
  for (const s of scenarios(base, pid, bareBase, barePid, creds).filter((s) => only.includes(s.name))) {
    figures[s.name] = s.name === "R" ? await measureRate(s, rate, seconds, warmup, verifyBodies) : await measure(s, seconds, warmup, connections, verifyBodies);
  }
  for (const f of Object.values(figures)) printScenario(f);
  log(`\nLoad average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  const { A: a, B: b, M: m, H: h, R: rr } = figures;

  const t = TARGETS[store];
  const targets: Record<string, { target: string; value: number; met: boolean }> = {};
  const target = (key: string, label: string, value: number, goal: number, atMost: boolean, unit: string) => {
    const met = atMost ? value <= goal : value >= goal;
    targets[key] = { target: `${atMost ? "≤" : "≥"} ${goal}${unit}`, value, met };
    log(`  [${met ? "MET" : "MISSED"}] ${label} ${atMost ? "≤" : "≥"} ${fmt(goal)}${unit}: ${fmt(value, 2)}${unit}`);
  };
  let ratios: Ratios | undefined;
  log(`\nTargets (STORE=${store}):`);
  if (a) {
    target("batch_cpu_us_per_call", `A: a ${USERS}-call batch's server CPU per call`, a.server_cpu_us_per_call, t.aCpuUs, true, " µs");
    target("batch_calls_per_s", "A: calls/s", a.calls_per_s, t.aCallsPerS, false, "");
    target("batch_p99_ms", `A: p99 latency at ${connections} connections`, a.latency_p99_ms, t.aP99Ms, true, " ms");
  }
  if (a && b) target("batch_vs_separate_calls_per_s", "A ÷ B calls/s (wall clock)", a.calls_per_s / b.calls_per_s, t.ratio, false, "×");
  if (rr) target("fixed_rate_p99_ms", `R: p99 latency at ${fmt(rate)} batches/s offered`, rr.latency_p99_ms, t.rP99Ms, true, " ms");
  if (m) target("mixed_cpu_us_per_call", "M: mixed batch's server CPU per call", m.server_cpu_us_per_call, t.mCpuUs, true, " µs");
  if (a && b && h) {
    ratios = {
      batch_vs_separate: round(b.server_cpu_us_per_call / a.server_cpu_us_per_call, 3),
      batch_vs_bare_hono: round(h.server_cpu_us_per_call / a.server_cpu_us_per_call, 3),
    };
    log(`\nRatios (server CPU per call; what --check compares):`);
    log(`  batch_vs_separate   ${fmt(ratios.batch_vs_separate, 2)}×   (B ${fmt(b.server_cpu_us_per_call, 2)} µs ÷ A ${fmt(a.server_cpu_us_per_call, 2)} µs)`);
    log(`  batch_vs_bare_hono  ${fmt(ratios.batch_vs_bare_hono, 2)}×   (H ${fmt(h.server_cpu_us_per_call, 2)} µs per request ÷ A ${fmt(a.server_cpu_us_per_call, 2)} µs per call)`);
    log(`  wall clock: A ÷ B calls/s ${fmt(a.calls_per_s / b.calls_per_s, 2)}×, A calls/s ÷ H requests/s ${fmt(a.calls_per_s / h.calls_per_s, 2)}×`);
  }

  let checkFailed = false;
  if (check && ratios) {
    const baseline = readBaseline().stores[store];
    if (!baseline) throw new BenchError(`${BASELINE_FILE} has no baseline for STORE=${store}; make one with --write-baseline.`);
    log(`\nCheck against ${BASELINE_FILE} (${store}, measured ${baseline.measured_at}), failing below ${(1 - CHECK_TOLERANCE) * 100} % of it:`);
    for (const key of ["batch_vs_separate", "batch_vs_bare_hono"] as const) {
      const floor = baseline[key] * (1 - CHECK_TOLERANCE);
      const ok = ratios[key] >= floor;
      if (!ok) checkFailed = true;
      log(`  [${ok ? "OK" : "REGRESSED"}] ${key} ${fmt(ratios[key], 2)}× (baseline ${fmt(baseline[key], 2)}×, floor ${fmt(floor, 2)}×)`);
    }
  }
  if (writeBaseline && ratios) {
    const file = readBaseline();
    file.note = "Ratios of server CPU per call measured by `npm run bench -- --write-baseline`; `npm run bench -- --check` fails on a drop of more than `tolerance`.";
    file.tolerance = CHECK_TOLERANCE;
    file.stores[store] = { ...ratios, measured_at: new Date().toISOString(), command: `${store === "redis" ? "BENCH_STORE=redis " : ""}npm run bench -- --write-baseline` };
    writeFileSync(BASELINE_FILE, JSON.stringify(file, null, 2) + "\n");
    log(`\nBaseline for STORE=${store} written to ${BASELINE_FILE}`);
  }

  const resultsFile = join(root, "bench-results.json");
  const results = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model.trim() ?? null,
    clk_tck: CLK_TCK,
    settings: { store, server_entry: entry, seconds, warmup_seconds: warmup, connections, rate_batches_per_s: rate, verify_bodies: verifyBodies, users: USERS, log_level: LOG_LEVEL, server_node_args: extraNodeArgs },
    server_start_rss_mb: round(startMem.rss, 1),
    scenarios: figures,
    ratios,
    targets,
  };
  writeFileSync(resultsFile, JSON.stringify(results, null, 2) + "\n");
  log(`\nResults JSON: ${resultsFile}`);
  const part = (f: ScenarioFigures | undefined) => (f ? `${f.name} ${fmt(f.calls_per_s, 0)} calls/s ${f.server_cpu_us_per_call} µs CPU/call p99 ${f.latency_p99_ms} ms` : "");
  log(
    `SUMMARY ${store} | ${[a, b, m, h, rr].map(part).filter(Boolean).join(" | ")}` +
      (ratios ? ` | ratios cpu A/B ${fmt(ratios.batch_vs_separate, 2)}× H/A ${fmt(ratios.batch_vs_bare_hono, 2)}×` : "") +
      (a && b ? ` | wall A/B ${fmt(a.calls_per_s / b.calls_per_s, 2)}×` : ""),
  );
  if (checkFailed) return 1;
  return enforce && Object.values(targets).some((x) => !x.met) ? 2 : 0;
}

function printServerLogTail() {
  if (!logFile || !existsSync(logFile)) return;
  const lines = readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-30);
  if (lines.length && lines[0] !== "") process.stderr.write(`--- last lines of ${logFile} ---\n${lines.join("\n")}\n`);
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping the server\n`);
    cleanup();
    process.exit(130);
  });
}
process.on("exit", cleanup);

let code = 1;
try {
  code = await main();
} catch (e) {
  process.stderr.write(`\nbench FAILED: ${e instanceof BenchError ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
  printServerLogTail();
  code = 1;
} finally {
  await stopServer().catch(() => undefined);
  cleanup();
  await dropRedisKeys().catch((e: unknown) => process.stderr.write(`bench: could not delete the Redis keys {${redisPrefix}}:* (${String(e)})\n`));
}
process.exit(code);
