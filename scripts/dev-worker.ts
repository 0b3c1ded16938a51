/**
 * `npm run dev:worker`: the gateway as a Cloudflare Worker on this machine — wrangler dev (workerd)
 * on 127.0.0.1:PORT (default 8787), Durable Object state under DATA_DIR/wrangler-state (DATA_DIR
 * default ./data), seeded with the same demo data as `npm start` and the credentials written to
 * DATA_DIR/demo-credentials.json in the same shape. A second run on the same DATA_DIR keeps the
 * data and the file. Ctrl-C (SIGINT) or SIGTERM stops wrangler.
 *
 * The gateway's configuration comes from the environment as for `npm start` (LOG_LEVEL,
 * DEMO_USERS, MAX_CALLS, the rate limits…), passed to the worker as vars; UPSTREAMS_JSON, or
 * UPSTREAMS_FILE whose content is passed as UPSTREAMS_JSON. Use a DATA_DIR of its own: the Node
 * server's demo-credentials.json in the same folder would be replaced.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatBanner } from "../src/adapters/node/banner.js";
import { ConfigSchema } from "../src/config.js";
import { credentialsFile, seedAndRecordCredentials, startLocalWorker, type LocalWorker } from "./lib/local-worker.js";

/** Node-only settings: where Node listens and keeps its SQLite file. */
const NOT_FOR_THE_WORKER = new Set(["PORT", "HOST", "DATA_DIR", "SQLITE_SYNCHRONOUS", "UPSTREAMS_FILE"]);

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function workerVars(env: NodeJS.ProcessEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== "" && !NOT_FOR_THE_WORKER.has(key)) vars[key] = v;
  }
  if (env.UPSTREAMS_JSON) {
    vars.UPSTREAMS_JSON = env.UPSTREAMS_JSON;
  } else if (env.UPSTREAMS_FILE) {
    try {
      vars.UPSTREAMS_JSON = JSON.stringify(JSON.parse(readFileSync(env.UPSTREAMS_FILE, "utf8")));
    } catch (e) {
      fail(`Invalid configuration: UPSTREAMS_FILE could not be read as JSON (${(e as Error).message})`);
    }
  }
  return vars;
}

async function main() {
  const portText = process.env.PORT || "8787";
  if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) fail("Invalid configuration: PORT must be between 1 and 65535");
  const port = Number(portText);
  const dataDir = process.env.DATA_DIR || "./data";
  if (existsSync(join(dataDir, "batchgate.sqlite"))) {
    process.stderr.write(`Note: ${dataDir} also holds the Node server's store; the worker keeps its own under ${join(dataDir, "wrangler-state")}.\n`);
  }

  let worker: LocalWorker | null = null;
  let stopping = false;
  const starting = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    if (worker) void worker.stop(signal).then(() => process.exit(0));
    else starting.abort(); // startLocalWorker stops wrangler and rejects
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  try {
    worker = await startLocalWorker({ port, dataDir, vars: workerVars(process.env), echo: true, signal: starting.signal });
  } catch (e) {
    if (stopping) process.exit(130);
    throw e;
  }
  const creds = await seedAndRecordCredentials(worker);
  process.stderr.write(formatBanner(port, credentialsFile(worker.dataDir), creds, "Batchgate (Cloudflare Worker on local workerd)"));

  const code = await worker.exited;
  if (!stopping) fail(`wrangler dev exited (${code}).`);
}

// wrangler's output was already echoed: the first line of the error says what went wrong.
main().catch((e) => fail(`dev:worker failed: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`));
