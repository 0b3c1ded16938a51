/**
 * The local worker: `wrangler dev` (workerd) serving src/worker.ts on loopback, with its Durable
 * Object state under DATA_DIR, seeded with the same demo data as `npm start`.
 *
 * Used by `npm run dev:worker` (scripts/dev-worker.ts) and by the tests (test/helpers/worker.ts),
 * so the tests start the worker exactly the way a developer does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { DemoCredentials } from "../../src/demo-data.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

/** Keeps wrangler local and quiet: no telemetry, no update check, no fetch of Request.cf data. */
export const WRANGLER_ENV: Readonly<Record<string, string>> = {
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  WRANGLER_HIDE_BANNER: "true", // the banner is also what runs the update check
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  FORCE_COLOR: "0",
};

/** Output kept per process (the tail), so a long run cannot grow without bound. */
const MAX_OUTPUT_CHARS = 8 * 1024 * 1024;

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface LocalWorkerOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Holds wrangler-state/ (the Durable Object's SQLite), wrangler-logs/ and demo-credentials.json. */
  dataDir: string;
  /** Worker vars (`--var`): the gateway's configuration, UPSTREAMS_JSON, DEMO_USERS… */
  vars?: Record<string, string>;
  /** Copy wrangler's output to this process's stdout/stderr as well (the dev script). */
  echo?: boolean;
  readyTimeoutMs?: number;
  /** Aborting while waiting for readiness stops wrangler and rejects. */
  signal?: AbortSignal;
  /**
   * A worker whose configuration is invalid answers every request 503 naming the variable (it
   * cannot exit). By default that stops wrangler and rejects with the message; with this set, the
   * worker is returned as started.
   */
  acceptMisconfigured?: boolean;
}

export interface LocalWorker {
  child: ChildProcess;
  port: number;
  base: string;
  /** Bearer token of the dev-only routes (/__dev/*) for this run. */
  devToken: string;
  dataDir: string;
  output: () => string;
  exited: Promise<number | null>;
  /** Stops wrangler and its workerd processes (the whole process group). */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Starts `wrangler dev` and resolves once the gateway answers /readyz. */
export async function startLocalWorker(opts: LocalWorkerOptions): Promise<LocalWorker> {
  const port = opts.port ?? (await freePort());
  const inspectorPort = await freePort();
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // A fresh random token per run: the dev routes hand out credentials.
  const devToken = randomBytes(32).toString("base64url");
  const vars = { ...opts.vars, DEV_ROUTES_TOKEN: devToken };
  const args = [
    WRANGLER,
    "dev",
    "--config", join(REPO_ROOT, "wrangler.toml"),
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--persist-to", join(dataDir, "wrangler-state"),
    "--show-interactive-dev-session=false",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...WRANGLER_ENV, WRANGLER_LOG_PATH: join(dataDir, "wrangler-logs") },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so stop() also ends the workerd processes wrangler starts.
    detached: true,
  });
  let out = "";
  const collect = (d: Buffer, to: NodeJS.WriteStream) => {
    out += d;
    if (out.length > MAX_OUTPUT_CHARS) out = out.slice(-MAX_OUTPUT_CHARS / 2);
    if (opts.echo) to.write(d);
  };
  child.stdout!.on("data", (d: Buffer) => collect(d, process.stdout));
  child.stderr!.on("data", (d: Buffer) => collect(d, process.stderr));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) signalGroup(signal);
    const timer = setTimeout(() => signalGroup("SIGKILL"), 10_000);
    const code = await exited;
    clearTimeout(timer);
    signalGroup("SIGKILL"); // anything of the group still left (workerd)
    return code;
  };

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (opts.signal?.aborted) {
      await stop("SIGTERM");
      throw new Error("wrangler dev was stopped before it was ready");
    }
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wrangler dev exited early (${child.exitCode ?? child.signalCode}):\n${out}`);
    let misconfigured: string | null = null;
    try {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5000) });
      if (res.ok) break;
      const body = (await res.json().catch(() => null)) as { error?: string; error_description?: string } | null;
      if (res.status === 503 && body?.error === "service_unavailable" && /configuration is invalid/.test(body.error_description ?? "")) {
        misconfigured = body.error_description!;
      }
    } catch {
      // not listening yet
    }
    if (misconfigured !== null) {
      if (opts.acceptMisconfigured) break;
      await stop("SIGTERM");
      throw new Error(`the worker answers 503: ${misconfigured}\n${out}`);
    }
    if (Date.now() > deadline) {
      await stop("SIGKILL");
      throw new Error(`wrangler dev did not become ready on ${base}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { child, port, base, devToken, dataDir, output: () => out, exited, stop };
}

export type SeedOutcome = { status: "seeded"; credentials: DemoCredentials } | { status: "already_seeded" };

/** Seeds the demo data through the dev route; answers the credentials only the first time. */
export async function seedLocalWorker(worker: Pick<LocalWorker, "base" | "devToken">): Promise<SeedOutcome> {
  const res = await fetch(`${worker.base}/__dev/seed`, { method: "POST", headers: { authorization: `Bearer ${worker.devToken}` } });
  const body = (await res.json()) as { status?: string; credentials?: DemoCredentials };
  if (res.status === 200 && body.status === "seeded" && body.credentials) return { status: "seeded", credentials: body.credentials };
  if (res.status === 409 && body.status === "already_seeded") return { status: "already_seeded" };
  throw new Error(`seeding the local worker failed: ${res.status} ${JSON.stringify(body)}`);
}

export function credentialsFile(dataDir: string): string {
  return join(dataDir, "demo-credentials.json");
}

/**
 * Seeds on the first start and writes DATA_DIR/demo-credentials.json as the Node server does; on a
 * store seeded before, keeps the file that is there. Returns the credentials (null if none known).
 */
export async function seedAndRecordCredentials(worker: Pick<LocalWorker, "base" | "devToken" | "dataDir">): Promise<DemoCredentials | null> {
  const file = credentialsFile(worker.dataDir);
  const seeded = await seedLocalWorker(worker);
  if (seeded.status === "seeded") {
    writeFileSync(file, JSON.stringify(seeded.credentials, null, 2) + "\n", { mode: 0o600 });
    return seeded.credentials;
  }
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as DemoCredentials) : null;
}
