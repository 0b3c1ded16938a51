/**
 * @module
 * Side-by-side comparison of two or more source trees (e.g. `git worktree add /tmp/before HEAD~1`)
 * under scenario A of scripts/bench.ts: a 50-call /wallet/find batch, 32 connections. Every tree's
 * server runs at once (its own src/node.ts, cwd and temp DATA_DIR with the demo data); the load
 * goes to one server at a time in short slices, trees in turn, so a slow spell of this shared
 * machine falls on every tree alike. Per slice: server CPU (utime+stime from /proc) per call and
 * calls/s; reported: each tree's median, and the median over rounds of each tree's figure ÷ the
 * first tree's in the same round.
 *
 *   npx tsx scripts/bench-ab.ts /tmp/before /work/main      # BENCH_AB_ROUNDS=12 BENCH_AB_SLICE_S=2
 *   npx tsx scripts/bench-ab.ts . ".::--max-semi-space-size=32"   # a tree with node flags after "::"
 *
 * A timing script, never a test.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

// autocannon has no bundled types (as in scripts/bench.ts): the part used here.
type Cannon = (
  opts: { url: string; method: string; headers: Record<string, string>; body: string; connections: number; duration: number },
  done: (err: Error | null, out: { requests: { total: number }; non2xx: number; errors: number }) => void,
) => unknown;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

const USERS = 50;
const HIGH_LIMIT = "1000000000";
const variants = process.argv.slice(2).map((arg) => {
  const [dir, flags = ""] = arg.split("::");
  return { dir: resolve(dir), flags: flags.split(/\s+/).filter(Boolean), label: arg };
});
const trees = variants.map((v) => v.label);
if (trees.length < 2) {
  process.stderr.write("usage: tsx scripts/bench-ab.ts <tree> <tree> [...]\n");
  process.exit(1);
}
const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 12);
const sliceS = Number(process.env.BENCH_AB_SLICE_S ?? 2);
const warmupS = Number(process.env.BENCH_AB_WARMUP_S ?? 3);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

interface Running {
  tree: string;
  child: ChildProcess;
  base: string;
  dir: string;
  body: string;
}

async function start(variant: { dir: string; flags: string[]; label: string }): Promise<Running> {
  const tree = variant.label;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "batchgate-ab-"));
  const env = {
    PATH: process.env.PATH,
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: dir,
    STORE: "sqlite",
    DEMO_USERS: String(USERS),
    LOG_LEVEL: "warn",
    CLIENT_RATE_LIMIT_POINTS: HIGH_LIMIT,
    TOKEN_RATE_LIMIT_POINTS: HIGH_LIMIT,
    IP_RATE_LIMIT_POINTS: HIGH_LIMIT,
  };
  const child = spawn(process.execPath, [...variant.flags, "--import", "tsx", "src/node.ts"], { cwd: variant.dir, env, stdio: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${tree}: the server did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8"));
  const client = creds.clients[0];
  const body = JSON.stringify({
    client_id: client.client_id,
    client_secret: client.client_secret,
    calls: creds.users.slice(0, USERS).map((u: { access_token: string; wallets: { wallet_id: string }[] }, i: number) => ({
      call: "/wallet/find",
      authorization: u.access_token,
      reference_id: `c${i}`,
      parameters: { wallet_id: u.wallets[0].wallet_id },
    })),
  });
  return { tree, child, base, dir, body };
}

function load(r: Running, seconds: number): Promise<{ requests: number; non2xx: number; errors: number }> {
  return new Promise((res, rej) => {
    autocannon(
      { url: `${r.base}/batch/create`, method: "POST", headers: { "content-type": "application/json" }, body: r.body, connections: 32, duration: seconds },
      (err, out) => (err ? rej(err) : res({ requests: out.requests.total, non2xx: out.non2xx, errors: out.errors })),
    );
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const running: Running[] = [];
try {
  for (const v of variants) running.push(await start(v));
  for (const r of running) await load(r, warmupS);
  const cpu: number[][] = trees.map(() => []);
  const rate: number[][] = trees.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    // Trees in turn, the order alternating between rounds.
    const order = round % 2 === 0 ? running.map((_, i) => i) : running.map((_, i) => running.length - 1 - i);
    for (const i of order) {
      const r = running[i];
      const c0 = cpuSeconds(r.child.pid!);
      const t0 = performance.now();
      const out = await load(r, sliceS);
      const secs = (performance.now() - t0) / 1000;
      const used = cpuSeconds(r.child.pid!) - c0;
      if (out.non2xx > 0 || out.errors > 0 || out.requests === 0) throw new Error(`${r.tree}: ${out.non2xx} non-2xx, ${out.errors} errors`);
      cpu[i].push((used / (out.requests * USERS)) * 1e6);
      rate[i].push((out.requests * USERS) / secs);
    }
    for (let i = 0; i < trees.length; i++) line.push(`${cpu[i][round].toFixed(2)} µs ${Math.round(rate[i][round])}/s`);
    process.stdout.write(`round ${round + 1}: ${line.join(" | ")}\n`);
  }
  process.stdout.write("\n");
  for (let i = 0; i < trees.length; i++) {
    const ratio = median(cpu[i].map((x, k) => x / cpu[0][k]));
    process.stdout.write(
      `${trees[i]}: CPU/call median ${median(cpu[i]).toFixed(2)} µs, calls/s median ${Math.round(median(rate[i]))}, CPU ÷ first tree's (median over rounds) ${ratio.toFixed(3)}\n`,
    );
  }
} finally {
  for (const r of running) {
    r.child.kill("SIGKILL");
    rmSync(r.dir, { recursive: true, force: true });
  }
}
