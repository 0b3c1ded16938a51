/**
 * Contract targets: the Node server (src/node.ts in a child process) and the local worker
 * (wrangler dev, started and seeded by the same code as `npm run dev:worker`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import type { DemoCredentials } from "../../src/demo-data.js";
import { seedAndRecordCredentials, startLocalWorker } from "../../scripts/lib/local-worker.js";
import type { ContractRuntime, ContractTarget, StartTarget } from "../contract/target.js";
import type { Store } from "../../src/ports/store.js";
import { issueTokenInto, tempDir } from "./gateway.js";
import { startServer } from "./process.js";
import { WebhookService } from "../../src/core/webhooks.js";
import type { Logger } from "../../src/ports/runtime.js";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** The webhook outbox over a store, as a producer in another process would use it (no delivery here). */
export function outboxOver(store: Store): WebhookService {
  return new WebhookService({
    store: store.webhooks,
    clock: { now: () => Date.now() },
    logger: silent,
    fetch,
    resolver: null,
    box: null,
    options: { timeoutMs: 1000, retrySchedule: [], rotationGraceMs: 0, concurrency: 1, allowPrivateUrls: false },
    wake: () => undefined,
  });
}

export interface NodeStoreChoice {
  runtime: ContractRuntime;
  /** Store settings for the process (none: SQLite under its DATA_DIR). */
  env?: Record<string, string>;
  /** Opens the process's store from the test, to issue tokens into it. */
  openStore: (dataDir: string) => Store;
  /** Removes what the process left outside its DATA_DIR. */
  cleanup?: () => Promise<unknown>;
}

/** A contract target: src/node.ts as a child process, on the given store. */
export function nodeTarget(choice: NodeStoreChoice): StartTarget {
  return async (spec) => {
    const dataDir = tempDir(`batchgate-contract-${choice.runtime}-`);
    const env: Record<string, string> = { DATA_DIR: dataDir, DEMO_USERS: String(spec.users), LOG_LEVEL: "info", SQLITE_SYNCHRONOUS: "NORMAL", ...choice.env, ...spec.env };
    if (spec.upstreams) {
      const file = join(dataDir, "upstreams.json");
      writeFileSync(file, JSON.stringify(spec.upstreams));
      env.UPSTREAMS_FILE = file;
    }
    const server = await startServer(env);
    const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8")) as DemoCredentials;
    return {
      runtime: choice.runtime,
      base: server.base,
      creds,
      output: server.output,
      async issueToken(userId, scopes, opts = {}) {
        const store = choice.openStore(dataDir);
        try {
          return await issueTokenInto(store, userId, scopes, opts);
        } finally {
          await store.close();
        }
      },
      // Into the server's store, through the outbox code; the server's pump finds it on its next poll.
      async emitEvent(event) {
        const store = choice.openStore(dataDir);
        try {
          await outboxOver(store).emit({ ...event, createdAt: Date.now() });
        } finally {
          await store.close();
        }
      },
      stop: async () => {
        await server.stop("SIGTERM");
        await choice.cleanup?.();
      },
    } satisfies ContractTarget;
  };
}

export const startNodeTarget: StartTarget = nodeTarget({
  runtime: "node",
  // The server's own SQLite file, written from here (WAL lets a second connection write safely).
  openStore: (dataDir) => new SqlStore(openBetterSqlite({ filename: join(dataDir, "batchgate.sqlite") })),
});

export const startWorkerTarget: StartTarget = async (spec) => {
  const dataDir = tempDir("batchgate-contract-worker-");
  const vars: Record<string, string> = { DEMO_USERS: String(spec.users), LOG_LEVEL: "info", ...spec.env };
  if (spec.upstreams) vars.UPSTREAMS_JSON = JSON.stringify(spec.upstreams);
  const worker = await startLocalWorker({ dataDir, vars });
  try {
    const creds = await seedAndRecordCredentials(worker);
    if (!creds) throw new Error("the local worker was not seeded");
    return {
      runtime: "worker",
      base: worker.base,
      creds,
      output: worker.output,
      // Through the dev-only route, which exists because the dev script's DEV_ROUTES_TOKEN is set.
      async issueToken(userId, scopes, opts = {}) {
        const res = await fetch(`${worker.base}/__dev/tokens`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${worker.devToken}` },
          body: JSON.stringify({ user_id: userId, scopes, expires_at: opts.expiresAt ?? null, revoked: opts.revoked ?? false }),
        });
        const body = (await res.json()) as { access_token?: string };
        if (res.status !== 201 || !body.access_token) throw new Error(`issuing a token failed: ${res.status} ${JSON.stringify(body)}`);
        return body.access_token;
      },
      async emitEvent(event) {
        const res = await fetch(`${worker.base}/__dev/events`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${worker.devToken}` },
          body: JSON.stringify({ id: event.id, client_id: event.clientId, type: event.type, data: event.data }),
        });
        if (res.status !== 202) throw new Error(`emitting an event failed: ${res.status} ${await res.text()}`);
      },
      stop: async () => {
        await worker.stop("SIGTERM");
      },
    } satisfies ContractTarget;
  } catch (e) {
    await worker.stop("SIGKILL");
    throw e;
  }
};
