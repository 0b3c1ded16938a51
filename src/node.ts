/**
 * @module
 * Node entry point: `npm start`. Validates the configuration, opens the embedded SQLite store
 * under DATA_DIR, seeds demo data on the first start, and serves the app.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { buildNodeServices } from "./adapters/node/gateway.js";
import { nodeHasher } from "./adapters/node/hasher.js";
import { createApp } from "./app.js";
import { ConfigError, parseConfig } from "./config.js";
import { type DemoCredentials, seedDemoData } from "./demo-data.js";

async function main() {
  const config = parseConfig(process.env);
  const services = buildNodeServices(config);
  const credsFile = join(config.DATA_DIR, "demo-credentials.json");

  let creds: DemoCredentials | null = await seedDemoData(services.store, nodeHasher, { users: config.DEMO_USERS });
  if (creds) {
    writeFileSync(credsFile, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  } else if (existsSync(credsFile)) {
    creds = JSON.parse(readFileSync(credsFile, "utf8")) as DemoCredentials;
  }

  const app = createApp(services);
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    services.logger.info({ port: info.port, data_dir: config.DATA_DIR }, "listening");
    printBanner(info.port, credsFile, creds);
  });

  const shutdown = (signal: string) => {
    services.logger.info({ signal }, "shutting down");
    server.close(() => {
      void services.store.close().finally(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

/** Demo credentials go to stderr as plain text, never through the logger. */
function printBanner(port: number, credsFile: string, creds: DemoCredentials | null) {
  const out = (s: string) => process.stderr.write(s + "\n");
  out(`\nBatchgate is listening on http://localhost:${port}`);
  if (!creds || creds.clients.length === 0 || creds.users.length === 0) {
    out(`No demo credentials at ${credsFile}.`);
    return;
  }
  const client = creds.clients[0];
  const [a, b] = creds.users;
  out(`Demo credentials (all of them in ${credsFile}):`);
  for (const c of creds.clients) out(`  client_id ${c.client_id}  client_secret ${c.client_secret}`);
  for (const u of creds.users.slice(0, 3)) out(`  user ${u.user_id}  token ${u.access_token}  wallet ${u.wallets[0]?.wallet_id}`);
  if (creds.users.length > 3) out(`  ... and ${creds.users.length - 3} more users`);
  const payee = b ?? a;
  const body = {
    client_id: client.client_id,
    client_secret: client.client_secret,
    calls: [
      { call: "/user", authorization: a.access_token, reference_id: "1" },
      { call: "/wallet/list", authorization: a.access_token, reference_id: "2" },
      {
        call: "/payment/create",
        authorization: a.access_token,
        reference_id: "3",
        parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: payee.wallets[0].wallet_id, amount: "1.00", currency: "USD" },
      },
    ],
  };
  out(`\nTry it:\ncurl -s http://localhost:${port}/batch/create -H 'content-type: application/json' -d '${JSON.stringify(body)}'\n`);
}

main().catch((e) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
  } else {
    process.stderr.write(`Batchgate failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
  }
  process.exit(1);
});
