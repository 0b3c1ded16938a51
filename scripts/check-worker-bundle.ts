/**
 * Nothing Node-only reaches the worker: builds src/worker.ts exactly as `wrangler deploy` would
 * (`--dry-run`, no network, no account) with esbuild's metafile, and fails when the bundle
 *
 * - imports a Node built-in (`node:*` or a bare `fs`, `crypto`…) that is not allowed on purpose
 *   (none is: wrangler.toml sets no `nodejs_compat` flag), or
 * - contains a Node-only package (pino, better-sqlite3, ioredis, rate-limiter-flexible — whose main
 *   entry pulls in Node modules —, @hono/node-server, bullmq), or
 * - contains the Node or Redis adapters or the Node entry point.
 *
 * `npm run check:worker-bundle`; `npm test` runs it too (test/worker/bundle.test.ts), so CI does.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT, WRANGLER_ENV } from "./lib/local-worker.js";

/** Node built-ins the worker may import on purpose (they would need a compatibility flag). None. */
export const ALLOWED_NODE_MODULES: readonly string[] = [];

export const FORBIDDEN_PACKAGES: readonly string[] = ["pino", "better-sqlite3", "ioredis", "rate-limiter-flexible", "@hono/node-server", "bullmq"];

/** Repository files that are Node-only by design. */
export const FORBIDDEN_SOURCES: readonly string[] = ["src/node.ts", "src/adapters/node/", "src/adapters/redis/", "src/adapters/rate-limit/"];

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** The parts of esbuild's metafile this check reads. */
export interface Metafile {
  inputs: Record<string, { imports?: { path: string; kind?: string; external?: boolean }[] }>;
  outputs: Record<string, { imports?: { path: string; kind?: string; external?: boolean }[] }>;
}

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || BUILTINS.has(specifier) || BUILTINS.has(specifier.split("/")[0]);
}

function packageOf(inputPath: string): string | null {
  const i = inputPath.lastIndexOf("node_modules/");
  if (i < 0) return null;
  const rest = inputPath.slice(i + "node_modules/".length).split("/");
  return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
}

/** Input paths in the metafile are relative to the working directory, the repository's root. */
function repoRelative(inputPath: string): string {
  return inputPath.replace(/^\.\//, "");
}

/** Every reason the bundle described by `meta` must not ship; empty when it is clean. */
export function findViolations(meta: Metafile, allowedNode: readonly string[] = ALLOWED_NODE_MODULES): string[] {
  const violations = new Set<string>();
  const allowed = new Set(allowedNode.flatMap((m) => [m, m.replace(/^node:/, ""), `node:${m.replace(/^node:/, "")}`]));
  const checkImports = (from: string, imports: Metafile["inputs"][string]["imports"]) => {
    for (const imp of imports ?? []) {
      if (isNodeBuiltin(imp.path) && !allowed.has(imp.path)) violations.add(`${from} imports the Node module ${imp.path}`);
    }
  };
  for (const [path, input] of Object.entries(meta.inputs)) {
    const pkg = packageOf(path);
    if (pkg && FORBIDDEN_PACKAGES.includes(pkg)) violations.add(`the bundle contains ${pkg} (${path})`);
    const rel = repoRelative(path);
    if (!pkg) for (const f of FORBIDDEN_SOURCES) if (rel === f || rel.startsWith(f)) violations.add(`the bundle contains ${rel}, which is Node-only`);
    checkImports(path, input.imports);
  }
  for (const [path, output] of Object.entries(meta.outputs)) checkImports(path, output.imports);
  return [...violations].sort();
}

/** Import statements of Node modules left in the bundle's text (a second look, independent of the metafile). */
export function findNodeImportsInText(code: string, allowedNode: readonly string[] = ALLOWED_NODE_MODULES): string[] {
  const found = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["'](node:[\w/]+)["']/g;
  for (const m of code.matchAll(re)) if (!allowedNode.includes(m[1]) && !allowedNode.includes(m[1].slice(5))) found.add(m[1]);
  return [...found].sort();
}

export interface BundleReport {
  violations: string[];
  inputs: string[];
  bundleBytes: number;
}

/** Builds the worker with `wrangler deploy --dry-run` into a temp dir and checks it. */
export async function checkWorkerBundle(): Promise<BundleReport> {
  const outdir = mkdtempSync(join(tmpdir(), "batchgate-worker-bundle-"));
  try {
    const metafile = join(outdir, "meta.json");
    const args = [join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "deploy", "--dry-run", "--config", join(REPO_ROOT, "wrangler.toml"), "--outdir", outdir, "--metafile", metafile];
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, args, {
        cwd: REPO_ROOT,
        env: { ...process.env, ...WRANGLER_ENV, WRANGLER_LOG_PATH: join(outdir, "logs") },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.once("exit", (c) => {
        clearTimeout(timer);
        resolve({ code: c, output: out });
      });
    });
    if (code !== 0) return { violations: [`wrangler could not build the worker (exit ${code}):\n${output}`], inputs: [], bundleBytes: 0 };
    const meta = JSON.parse(readFileSync(metafile, "utf8")) as Metafile;
    const code_ = readFileSync(join(outdir, "worker.js"), "utf8");
    const violations = [...findViolations(meta), ...findNodeImportsInText(code_).map((m) => `the bundle's text imports ${m}`)];
    return { violations, inputs: Object.keys(meta.inputs).map(repoRelative), bundleBytes: Buffer.byteLength(code_) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await checkWorkerBundle();
  if (report.violations.length) {
    process.stderr.write(`The worker bundle pulls in Node-only code:\n${report.violations.map((v) => `  - ${v}`).join("\n")}\n`);
    process.exit(1);
  }
  process.stdout.write(`Worker bundle OK: ${report.inputs.length} modules, ${(report.bundleBytes / 1024).toFixed(0)} KiB, no Node-only code.\n`);
}
