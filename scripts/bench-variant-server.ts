/**
 * @module
 * A what-if copy of src/node.ts for `npm run bench` (BENCH_SERVER_ENTRY=scripts/bench-variant-server.ts):
 * the same config, store, seeding, services and routes, with two changes that can be switched
 * on to measure them without touching src/ or routes/:
 *
 *   VARIANT_BODY_LIMIT=header  (default) enforce MAX_BODY_BYTES from Content-Length (and refuse
 *                              bodies without one) instead of hono/body-limit, whose
 *                              `c.req.raw.body` access makes @hono/node-server build a full
 *                              undici Request + web ReadableStream per request.
 *   VARIANT_BODY_LIMIT=hono    as src/app.ts does today.
 *   VARIANT_TOKEN_CACHE=1      cache findToken results in-process (no expiry/revocation handling:
 *                              measurement only, not a design).
 *
 * Not for production use: it exists to put numbers on the profiling suggestions.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../routes/env.js";
import { renderClassicError } from "../routes/http.js";
import { registerRoutes } from "../routes/index.js";
import { openSqliteStore } from "../src/adapters/node/gateway.js";
import { nodeHasher } from "../src/adapters/node/hasher.js";
import { createPinoLogger } from "../src/adapters/node/logger.js";
import { memoryRateLimiter } from "../src/adapters/rate-limit/flexible.js";
import { parseConfig } from "../src/config.js";
import { GatewayError } from "../src/core/errors.js";
import { newId } from "../src/core/ids.js";
import { type DemoCredentials, seedDemoData } from "../src/demo-data.js";
import { buildRegistry } from "../src/handlers/index.js";
import type { Store, TokenRecord } from "../src/ports/store.js";
import { createServices, type Services } from "../src/services.js";

const config = parseConfig(process.env);
const bodyMode = process.env.VARIANT_BODY_LIMIT ?? "header";
const tokenCache = process.env.VARIANT_TOKEN_CACHE === "1";

let store: Store = openSqliteStore(config);
if (tokenCache) {
  const base = store;
  const cache = new Map<string, TokenRecord | null>();
  const cached = Object.create(base) as Store;
  (cached as { tokens: Store["tokens"] }).tokens = {
    createToken: (t) => base.tokens.createToken(t),
    async findToken(hash) {
      let t = cache.get(hash);
      if (t === undefined) {
        t = await base.tokens.findToken(hash);
        cache.set(hash, t);
      }
      return t;
    },
  };
  store = cached;
}

const services: Services = createServices({
  config,
  store,
  handlers: buildRegistry([]),
  hasher: nodeHasher,
  logger: createPinoLogger(config.LOG_LEVEL),
  clientLimiter: memoryRateLimiter("client", config.CLIENT_RATE_LIMIT_POINTS, config.CLIENT_RATE_LIMIT_WINDOW_S),
  tokenLimiter: memoryRateLimiter("token", config.TOKEN_RATE_LIMIT_POINTS, config.TOKEN_RATE_LIMIT_WINDOW_S),
});

const credsFile = join(config.DATA_DIR, "demo-credentials.json");
const creds: DemoCredentials | null = await seedDemoData(services.store, nodeHasher, { users: config.DEMO_USERS });
if (creds) writeFileSync(credsFile, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
else if (!existsSync(credsFile)) process.stderr.write("no demo credentials\n");
else JSON.parse(readFileSync(credsFile, "utf8"));

const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;
const app = new Hono<AppEnv>();
app.use(async (c, next) => {
  const given = c.req.header("x-request-id");
  const requestId = given && REQUEST_ID.test(given) ? given : newId("req");
  const logger = services.logger.child({ request_id: requestId });
  c.set("services", services);
  c.set("requestId", requestId);
  c.set("logger", logger);
  const started = Date.now();
  await next();
  c.header("X-Request-Id", requestId);
  logger.info({ method: c.req.method, path: c.req.path, status: c.res.status, duration_ms: Date.now() - started, client_id: c.get("clientId"), calls: c.get("calls") }, "request");
});
const tooLarge = () => new GatewayError("body_too_large", `The request body is larger than ${config.MAX_BODY_BYTES} bytes.`);
if (bodyMode === "hono") {
  app.use("*", bodyLimit({ maxSize: config.MAX_BODY_BYTES, onError: (c) => renderClassicError(c as never, tooLarge()) }));
} else {
  app.use("*", async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const len = c.req.header("content-length");
    if (len === undefined) throw new GatewayError("body_too_large", "A Content-Length is required (variant server).");
    if (Number(len) > config.MAX_BODY_BYTES) throw tooLarge();
    return next();
  });
}
registerRoutes(app);
app.notFound((c) => renderClassicError(c, new GatewayError("route_not_found", `No endpoint ${c.req.method} ${c.req.path}.`)));
app.onError((err, c) => renderClassicError(c, err));

const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
  process.stderr.write(`variant server (body limit: ${bodyMode}, token cache: ${tokenCache}) on ${info.port}\n`);
});
const shutdown = () => {
  server.close(() => void services.store.close().finally(() => process.exit(0)));
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
