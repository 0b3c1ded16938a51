/**
 * @module
 * Node entry point: `npm start`. Validates the configuration, opens the embedded SQLite store
 * under DATA_DIR, seeds demo data on the first start, and serves the app.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { formatBanner } from "./adapters/node/banner.js";
import { nodeDocsAssets } from "./adapters/node/docs-assets.js";
import { buildNodeServices } from "./adapters/node/gateway.js";
import { nodeHasher } from "./adapters/node/hasher.js";
import { lingerBeforeClose } from "./adapters/node/linger.js";
import { serveMetrics } from "./adapters/node/metrics-server.js";
import { nodePeer } from "./adapters/node/peer.js";
import { createApp } from "./app.js";
import { ConfigError, parseConfig } from "./config.js";
import { type DemoCredentials, demoUsersOf, seedDemoData, seedDemoTreasury } from "./demo-data.js";

async function main() {
  const config = parseConfig(process.env);
  const services = await buildNodeServices(config);
  const credsFile = join(config.DATA_DIR, "demo-credentials.json");

  // With a shared store (Redis) only the instance that seeds gets, and writes, the credentials.
  let creds: DemoCredentials | null = await seedDemoData(services.store, nodeHasher, { users: config.DEMO_USERS });
  if (creds) {
    mkdirSync(config.DATA_DIR, { recursive: true });
    writeFileSync(credsFile, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  } else if (existsSync(credsFile)) {
    creds = JSON.parse(readFileSync(credsFile, "utf8")) as DemoCredentials;
    // Idempotent: a store seeded before treasuries existed gets them; otherwise nothing changes.
    await seedDemoTreasury(services.store, nodeHasher, { clientIds: creds.clients.map((c) => c.client_id), users: demoUsersOf(creds) }).catch((e: unknown) =>
      services.logger.warn({ err: (e as Error).message }, "demo treasury not seeded"),
    );
  }


  const app = createApp(services, { docsAssets: nodeDocsAssets, peerOf: nodePeer });
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    services.logger.info({ port: info.port, data_dir: config.DATA_DIR }, "listening");
    printBanner(info.port, credsFile, creds);
  });
  lingerBeforeClose(server as import("node:http").Server);
  services.background.start();

  const metricsServer =
    config.METRICS_PORT === undefined
      ? undefined
      : serveMetrics(services.metrics, config.METRICS_PORT, config.HOST, (port) => services.logger.info({ port }, "metrics listening"));

  const shutdown = (signal: string) => {
    services.logger.info({ signal }, "shutting down");
    metricsServer?.close();
    server.close(() => {
      void services.background
        .stop()
        .then(() => services.store.close())
        .finally(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

/** Demo credentials go to stderr as plain text, never through the logger. */
function printBanner(port: number, credsFile: string, creds: DemoCredentials | null) {
  process.stderr.write(formatBanner(port, credsFile, creds));
}

main().catch((e) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
  } else {
    process.stderr.write(`Batchgate failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
  }
  process.exit(1);
});
