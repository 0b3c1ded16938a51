/**
 * @module
 * Where the batch path's CPU goes, piece by piece, in-process (no sockets): each piece a
 * /wallet/find call goes through, timed alone, then the engine and the whole Hono app for a
 * 50-call batch. Figures are process CPU (user+system) per call, so they compare directly with
 * `npm run bench`'s "server CPU/call". Uses a fresh temp SQLite file seeded like the server.
 *
 *   npx tsx scripts/microbench.ts        (MICROBENCH_SCALE=0.2 for a quicker, noisier run)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import PQueue from "p-queue";
import { buildNodeServices } from "../src/adapters/node/gateway.js";
import { nodeHasher } from "../src/adapters/node/hasher.js";
import { memoryRateLimiter } from "../src/adapters/rate-limit/flexible.js";
import { createApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import { parseBatchEnvelope } from "../src/core/envelope.js";
import { lookupHandlers } from "../src/handlers/lookups.js";
import { seedDemoData } from "../src/demo-data.js";

const SCALE = Number(process.env.MICROBENCH_SCALE ?? 1);
const USERS = 50;
const dir = mkdtempSync(join(tmpdir(), "batchgate-microbench-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const config = parseConfig({
  DATA_DIR: join(dir, "data"),
  LOG_LEVEL: "silent",
  CLIENT_RATE_LIMIT_POINTS: "1000000000",
  TOKEN_RATE_LIMIT_POINTS: "1000000000",
  IP_RATE_LIMIT_POINTS: "1000000000",
});
const services = await buildNodeServices(config);
const creds = (await seedDemoData(services.store, nodeHasher, { users: USERS }))!;
const app = createApp(services);
const users = creds.users.map((u) => ({ token: u.access_token, wallet: u.wallets[0].wallet_id, hash: String(nodeHasher.sha256Hex(u.access_token)) }));
const client = creds.clients[0];
const batchBody = JSON.stringify({
  client_id: client.client_id,
  client_secret: client.client_secret,
  calls: users.map((u, i) => ({ call: "/wallet/find", authorization: u.token, reference_id: `c${i}`, parameters: { wallet_id: u.wallet } })),
});
const calls = parseBatchEnvelope(JSON.parse(batchBody), 50).calls;
const ctx = { requestId: "req_bench", logger: services.logger };

const rows: [string, number][] = [];

/** Runs fn `n` times (after a warm-up) and records CPU µs per call; `per` = calls per fn run. */
async function time(label: string, n: number, fn: (i: number) => unknown, per = 1, unit = "call") {
  n = Math.max(10, Math.round(n * SCALE));
  for (let i = 0; i < Math.min(n, 2000); i++) await fn(i);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = fn(i);
    if (r instanceof Promise) await r;
  }
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / (n * per);
  rows.push([label, us]);
  console.log(`${us.toFixed(3).padStart(9)} µs/${unit.padEnd(4)}  ${label}`);
}

console.log(`Batchgate microbench — Node ${process.version}; CPU µs per /wallet/find call (lower is better)\n`);
console.log("Pieces, one call's worth each:");
await time("sha256 hex of the access token (node:crypto one-shot hash)", 300_000, (i) => nodeHasher.sha256Hex(users[i % USERS].token));
const limiter = memoryRateLimiter("token", 1_000_000_000, 60);
await time("token rate limiter consumeSync (in-memory fixed window)", 300_000, (i) => limiter.consumeSync!(users[i % USERS].hash, 1));
const session = await services.auth.session();
await services.auth.principalFor(users[0].hash, session);
for (const u of users) await services.auth.principalFor(u.hash, session);
await time("auth.principalFor from the exact principal cache (current session)", 300_000, (i) => services.auth.principalFor(users[i % USERS].hash, session));
await time("store.tokens.credentialsVersion (SQLite; once per batch) ÷ 50", 100_000, () => services.store.tokens.credentialsVersion(), 50);
await time("store.tokens.findToken (SQLite, autocommit read)", 100_000, (i) => services.store.tokens.findToken(users[i % USERS].hash));
await time("store.ledger.getWallet (SQLite, autocommit read)", 100_000, (i) => services.store.ledger.getWallet(users[i % USERS].wallet));
const walletFind = lookupHandlers.find((h) => h.name === "/wallet/find")!;
await time("zod: /wallet/find parameters safeParse", 300_000, (i) => walletFind.schema.safeParse({ wallet_id: users[i % USERS].wallet }));
await time("zod: parseBatchEnvelope (whole 50-call envelope) ÷ 50", 5_000, () => parseBatchEnvelope(JSON.parse(batchBody), 50), 50);
await time("JSON.parse of the batch body ÷ 50", 10_000, () => JSON.parse(batchBody), 50);
const sampleResult = { calls: calls.map((c, i) => ({ call: c.call, reference_id: c.reference_id, status: 200, response: { wallet_id: users[i].wallet, user_id: "usr_x", currency: "USD", balance: "1000.00", created_at: new Date().toISOString() } })), request_id: "req_x" };
await time("JSON.stringify of the batch response ÷ 50", 10_000, () => JSON.stringify(sampleResult), 50);
await time("for comparison, per-call scaffolding: AbortController + setTimeout/clearTimeout + Promise.race", 200_000, async () => {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(1);
    }, 10_000);
  });
  const v = await Promise.race([Promise.resolve(controller.signal), stop]);
  clearTimeout(timer);
  return v;
});
const inflight = new PQueue({ concurrency: 256 });
await time("for comparison, p-queue: new per-batch PQueue + 50 × (queue.add → inflight.add) ÷ 50", 5_000, async () => {
  const q = new PQueue({ concurrency: 10 });
  await Promise.all(calls.map(() => q.add(() => inflight.add(async () => undefined))));
}, 50);

console.log("\nSQLite variants (raw better-sqlite3 on a copy of the same file):");
const raw = new Database(join(config.DATA_DIR, "batchgate.sqlite"));
const tokenStmt = raw.prepare("SELECT * FROM tokens WHERE token_hash = ?");
const walletStmt = raw.prepare("SELECT * FROM wallets WHERE wallet_id = ?");
await time("token + wallet lookups, autocommit (WAL; what a single call does)", 100_000, (i) => {
  tokenStmt.get(users[i % USERS].hash);
  walletStmt.get(users[i % USERS].wallet);
});
const readBatch = raw.transaction((k: number) => {
  for (let j = 0; j < 50; j++) {
    tokenStmt.get(users[(k + j) % USERS].hash);
    walletStmt.get(users[(k + j) % USERS].wallet);
  }
});
await time("token + wallet lookups, 50 calls in one read transaction", 4_000, (i) => readBatch.deferred(i), 50);
// Exclusive locking needs the file to itself: a copy, in WAL mode like the original.
const copy = join(dir, "copy.sqlite");
raw.exec(`VACUUM INTO '${copy}'`);
raw.close();
const excl = new Database(copy);
excl.pragma("locking_mode = EXCLUSIVE");
excl.pragma("journal_mode = WAL");
const t2 = excl.prepare("SELECT * FROM tokens WHERE token_hash = ?");
const w2 = excl.prepare("SELECT * FROM wallets WHERE wallet_id = ?");
await time("token + wallet lookups, autocommit, PRAGMA locking_mode=EXCLUSIVE", 100_000, (i) => {
  t2.get(users[i % USERS].hash);
  w2.get(users[i % USERS].wallet);
});
excl.close();
const tokenCache = new Map(users.map((u) => [u.hash, { userId: "usr", scopes: new Set(["wallets:read"]), expiresAt: null }]));
await time("token lookup from an in-process Map (cache hit) instead", 300_000, (i) => tokenCache.get(users[i % USERS].hash));

console.log("\nWhole paths for one 50-call batch, ÷ 50:");
await time("engine.runBatch (version read, auth, limiter, zod, handler, SQLite)", 3_000, () => services.engine.runBatch(calls, ctx), 50);
await time("app.fetch(POST /batch/create) — Hono app, no socket", 3_000, async () => {
  const r = await app.fetch(new Request("http://127.0.0.1/batch/create", { method: "POST", headers: { "content-type": "application/json" }, body: batchBody }));
  await r.text();
}, 50);

console.log("\nPer HTTP request (µs per request, not per call):");
const oneCallBody = JSON.stringify({ ...JSON.parse(batchBody), calls: JSON.parse(batchBody).calls.slice(0, 1) });
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  Promise.resolve(app.fetch(new Request(`http://127.0.0.1${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body }))).then((r) => r.text());
await time("services.logger.child({ request_id }) (pino, per request)", 100_000, (i) => services.logger.child({ request_id: `req_${i}` }), 1, "req");
await time("app.fetch(GET /healthz): Hono app floor (middleware, request id, logger child, c.json)", 20_000, () =>
  Promise.resolve(app.fetch(new Request("http://127.0.0.1/healthz"))).then((r) => r.text()), 1, "req");
await time("app.fetch(POST /batch/create) with 1 call", 10_000, () => post("/batch/create", oneCallBody), 1, "req");
await time("app.fetch(POST /batch/create) with 50 calls (per request)", 2_000, () => post("/batch/create", batchBody), 1, "req");
await time("app.fetch(POST /v2/wallet/find)", 20_000, (i) => post("/v2/wallet/find", JSON.stringify({ wallet_id: users[i % USERS].wallet }), { authorization: `Bearer ${users[i % USERS].token}` }), 1, "req");
await time("engine.runSingle(/wallet/find)", 50_000, (i) => services.engine.runSingle({ call: "/wallet/find", authorization: users[i % USERS].token, parameters: { wallet_id: users[i % USERS].wallet } }, ctx));
await services.store.close();
