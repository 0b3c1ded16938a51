/**
 * @module
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. the server under `npm run bench` with
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"): self time by package/file,
 * the hottest functions, and inclusive time of chosen functions, optionally only for samples
 * after --from-s seconds (to leave out start-up and warm-up) and divided per call (--calls N).
 *
 *   npx tsx scripts/profile-report.ts /tmp/prof/CPU.*.cpuprofile [--from-s 5] [--to-s 15] [--calls 262500] [--top 40]
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const fromS = Number(flag("--from-s") ?? 0);
const toS = Number(flag("--to-s") ?? Infinity);
const calls = Number(flag("--calls") ?? 0);
const top = Number(flag("--top") ?? 40);
const usage = "usage: tsx scripts/profile-report.ts <file.cpuprofile> [--from-s S] [--to-s S] [--calls N] [--top N]\n";
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(usage);
  process.exit(0);
}
const unknown = args.find((a) => a.startsWith("-"));
const file = args[0];
if (!file || unknown) {
  process.stderr.write(`${unknown ? `unknown option ${unknown}\n` : ""}${usage}`);
  process.exit(1);
}
// A server with worker threads leaves one profile per thread (CPU.<date>.<pid>.<thread>.…); a
// glob passes them all. The first, thread 0, is the main thread: the one summarised.
if (args.length > 1) process.stderr.write(`summarising ${file}; left out: ${args.slice(1).join(", ")}\n`);
let prof: Profile;
try {
  prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
} catch (e) {
  process.stderr.write(`cannot read ${file} as a .cpuprofile: ${(e as Error).message}\n`);
  process.exit(1);
}

const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const n of prof.nodes) byId.set(n.id, n);
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Time per sample: the delta to the next sample is the time spent in this one.
const selfUs = new Map<number, number>();
let t = prof.startTime;
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i];
  const dt = i + 1 < prof.timeDeltas.length ? prof.timeDeltas[i + 1] : 0;
  const rel = (t - prof.startTime) / 1e6;
  if (rel < fromS || rel > toS) continue;
  selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + dt);
  total += dt;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length);
  const m = /\/work\/[^/]+\/(.*)$/.exec(url);
  if (m) return m[1];
  return url;
}

function category(cf: CallFrame): string {
  const u = cf.url;
  if (!u) {
    if (cf.functionName.startsWith("(")) return cf.functionName; // (garbage collector), (program), (idle)
    return `native: ${cf.functionName || "(anonymous)"}`;
  }
  const nm = u.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = u.slice(nm + "node_modules/".length).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (u.startsWith("node:")) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(u);
    return `node:${m?.[1] ?? u}`;
  }
  return shortUrl(u);
}

const key = (cf: CallFrame) => `${cf.functionName || "(anonymous)"} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;

const byCategory = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const [id, us] of selfUs) {
  const cf = byId.get(id)!.callFrame;
  byCategory.set(category(cf), (byCategory.get(category(cf)) ?? 0) + us);
  byFunction.set(key(cf), (byFunction.get(key(cf)) ?? 0) + us);
}

// Inclusive time per function (counted once per stack even when recursive).
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  let cur: number | undefined = id;
  while (cur !== undefined) {
    const k = key(byId.get(cur)!.callFrame);
    if (!seen.has(k)) {
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
    cur = parent.get(cur);
  }
}

const pct = (us: number) => ((100 * us) / total).toFixed(1).padStart(5) + "%";
const perCall = (us: number) => (calls > 0 ? `${(us / calls).toFixed(2).padStart(7)} µs/call` : "");
const line = (us: number, label: string) => `${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms ${perCall(us)}  ${label}`;

console.log(`${file}\nwindow ${fromS}s..${toS === Infinity ? "end" : toS + "s"}: ${(total / 1e6).toFixed(2)} s sampled${calls ? `, ${calls} calls` : ""}`);
const busy = total - (byCategory.get("(idle)") ?? 0);
console.log(`busy (not idle): ${(busy / 1e6).toFixed(2)} s${calls ? `, ${(busy / calls).toFixed(2)} µs/call` : ""}`);

console.log(`\nSelf time by package / file:`);
for (const [k, us] of [...byCategory].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(us, k));

console.log(`\nTop functions by self time:`);
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(us, k));

console.log(`\nTop functions by inclusive time:`);
for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(us, k));
