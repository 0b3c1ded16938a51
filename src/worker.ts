/**
 * @module
 * Cloudflare Workers entry point (wrangler.toml `main`). The stateless worker checks the body
 * limit and forwards every request to the gateway's one Durable Object, which serves the same Hono
 * app as the Node server over its SQLite storage (src/adapters/workers/gateway-object.ts).
 *
 * Nothing Node-only may be imported from here: `npm test` builds this entry with wrangler and
 * fails on any `node:*` module, better-sqlite3, ioredis, pino or rate-limiter-flexible in the bundle.
 */
import { createEdgeHandler } from "./adapters/workers/edge.js";
import { GATEWAY_OBJECT_NAME, GatewayObject, type WorkerEnv } from "./adapters/workers/gateway-object.js";

export { GatewayObject };

const edge = createEdgeHandler({
  forward: (request, env) => {
    const ns = (env as WorkerEnv).GATEWAY;
    return ns.get(ns.idFromName(GATEWAY_OBJECT_NAME)).fetch(request);
  },
});

export default {
  fetch: (request, env) => edge(request, env),
} satisfies ExportedHandler<WorkerEnv>;
