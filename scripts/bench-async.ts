/**
 * @module
 * `npm run bench:async`: one 5,000-item asynchronous batch of /payment/create items, timed on the
 * real server, on the embedded store (SQLite) and on Redis (STORE=redis, when Redis answers at
 * REDIS_URL).
 *
 * Each run starts `node --import tsx src/node.ts` on a fresh temp DATA_DIR and a free loopback port
 * (DEMO_USERS=50, LOG_LEVEL=warn, rate limits out of the way), submits the batch with
 * `process: true`, and polls GET /v1/batches/:id every 20 ms until it leaves `processing`, sampling
 * the server's VmRSS (/proc/<pid>/status) at each poll. It reports the time from the 202 to the
 * end, items per second, the RSS before submitting and its peak while the batch ran, and checks
 * that every item succeeded and that the ledger holds one payment per item (fails otherwise).
 *
 * Environment (all optional): BENCH_ITEMS (default 5000), REDIS_URL, BENCH_STORES ("sqlite,redis"),
 * BENCH_SERVER_NODE_ARGS (extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { freePort } from "./lib/local-worker.js";
import { ringPaymentItems } from "./lib/payment-items.js";

const ITEMS = Number(process.env.BENCH_ITEMS ?? 5000);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const STORES = (process.env.BENCH_STORES ?? "sqlite,redis").split(",");

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; base: string; dir: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "batchgate-bench-async-"));
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", "src/node.ts"], {
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      DATA_DIR: dir,
      DEMO_USERS: "50",
      LOG_LEVEL: "warn",
      SQLITE_SYNCHRONOUS: "NORMAL",
      CLIENT_RATE_LIMIT_POINTS: "1000000000",
      TOKEN_RATE_LIMIT_POINTS: "1000000000",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return { child, base, dir };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error("server did not start");
}

async function run(store: "sqlite" | "redis") {
  const prefix = `bgbench${Date.now().toString(36)}`;
  const env: Record<string, string> = store === "redis" ? { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix } : {};
  const { child, base, dir } = await startServer(env);
  try {
    const creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8"));
    const users = creds.users;
    const auth = `Basic ${Buffer.from(`${creds.clients[0].client_id}:${creds.clients[0].client_secret}`).toString("base64")}`;
    const items = ringPaymentItems(users, ITEMS);
    const rssBefore = rssMiB(child.pid!);
    const body = JSON.stringify({ label: "bench", items, process: true });
    const submitStart = performance.now();
    const res = await fetch(`${base}/v1/batches`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body });
    const created = (await res.json()) as { id: string };
    if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${JSON.stringify(created)}`);
    const accepted = performance.now();
    let peak = rssBefore;
    let batch: { status: string; succeeded_count: number; failed_count: number };
    for (;;) {
      peak = Math.max(peak, rssMiB(child.pid!));
      batch = (await (await fetch(`${base}/v1/batches/${created.id}`, { headers: { authorization: auth } })).json()) as typeof batch;
      if (batch.status !== "processing") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - accepted) / 1000;
    if (batch.status !== "completed" || batch.succeeded_count !== ITEMS) throw new Error(`batch ended ${JSON.stringify(batch)}`);
    let payments: number;
    if (store === "sqlite") {
      const db = new Database(join(dir, "batchgate.sqlite"), { readonly: true });
      payments = (db.prepare("SELECT COUNT(*) AS n FROM payments").get() as { n: number }).n;
      db.close();
    } else {
      const redis = new Redis(REDIS_URL);
      payments = 0;
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `{${prefix}}:v1:payment:*`, "COUNT", 1000);
        cursor = next;
        payments += keys.length;
      } while (cursor !== "0");
      const all: string[] = [];
      cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `{${prefix}}:*`, "COUNT", 1000);
        cursor = next;
        all.push(...keys);
      } while (cursor !== "0");
      for (let i = 0; i < all.length; i += 500) await redis.del(...all.slice(i, i + 500));
      redis.disconnect();
    }
    if (payments !== ITEMS) throw new Error(`ledger holds ${payments} payments for ${ITEMS} items`);
    return {
      store,
      items: ITEMS,
      submit_ms: Math.round(accepted - submitStart),
      run_seconds: Number(seconds.toFixed(2)),
      items_per_second: Math.round(ITEMS / seconds),
      rss_before_mib: Math.round(rssBefore),
      rss_peak_mib: Math.round(peak),
      rss_growth_mib: Math.round(peak - rssBefore),
    };
  } finally {
    // SIGTERM: a graceful stop (a --cpu-prof profile is written on exit).
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}

async function main() {
  const results = [];
  for (const s of STORES) {
    if (s !== "sqlite" && s !== "redis") continue;
    results.push(await run(s));
    console.log(JSON.stringify(results[results.length - 1]));
  }
  console.table(results);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
