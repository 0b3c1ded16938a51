/**
 * Test harness: a real gateway over real SQLite (":memory:" or a temp file), seeded with demo
 * data, driven through app.request (real Requests and Responses).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { buildNodeServices } from "../../src/adapters/node/gateway.js";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { createApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { newSecret } from "../../src/core/secrets.js";
import { type DemoCredentials, seedDemoData } from "../../src/demo-data.js";
import type { Store } from "../../src/ports/store.js";

export interface TestGatewayOptions {
  env?: Record<string, string>;
  users?: number;
  /** Use a SQLite file in a temp dir instead of :memory:. */
  file?: boolean;
}

export type TestGateway = Awaited<ReturnType<typeof makeGateway>>;

export function tempDir(prefix = "batchgate-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function makeGateway(opts: TestGatewayOptions = {}) {
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const dataDir = tempDir();
  const config = parseConfig({ DATA_DIR: dataDir, LOG_LEVEL: "info", SQLITE_SYNCHRONOUS: "NORMAL", ...opts.env });
  const sqliteFile = opts.file ? join(dataDir, "batchgate.sqlite") : ":memory:";
  const services = await buildNodeServices(config, { sqliteFile, logDestination: logDestination as never });
  const creds = (await seedDemoData(services.store, nodeHasher, { users: opts.users ?? 4 })) as DemoCredentials;
  const app = createApp(services);
  const client = creds.clients[0];

  /** POST /batch/create with the first demo client's credentials in the body. */
  async function batch(calls: unknown[], extra: Record<string, unknown> = {}, path = "/batch/create") {
    const res = await app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, calls, ...extra }),
    });
    return { res, body: (await res.json()) as any };
  }

  /** POST /v2/<call> with a Bearer token. */
  async function call(name: string, token: string | null, params?: unknown) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await app.request(`/v2${name}`, { method: "POST", headers, body: params === undefined ? undefined : JSON.stringify(params) });
    return { res, body: (await res.json()) as any };
  }

  /** Every wallet's balance: the demo users' and the demo clients' treasury wallets. */
  async function balances(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const u of creds.users) {
      for (const w of await services.store.ledger.listWallets(u.user_id)) out[w.walletId] = w.balance;
    }
    for (const c of creds.clients) {
      for (const w of await services.store.treasury.listTreasuryWallets(c.client_id)) out[w.walletId] = w.balance;
    }
    return out;
  }

  return { app, services, creds, config, dataDir, sqliteFile, logs, batch, call, balances };
}

/** Issues a fresh access token for an existing user straight into a store (a test fixture). */
export async function issueTokenInto(
  store: Store,
  userId: string,
  scopes: string[],
  opts: { expiresAt?: number | null; revoked?: boolean } = {},
): Promise<string> {
  const token = newSecret("at_");
  await store.tokens.createToken({
    tokenHash: nodeHasher.sha256Hex(token) as string,
    userId,
    scopes,
    expiresAt: opts.expiresAt ?? null,
    revoked: opts.revoked ?? false,
    createdAt: Date.now(),
  });
  return token;
}

export const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
