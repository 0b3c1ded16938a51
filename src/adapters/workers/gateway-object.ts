/**
 * @module
 * The gateway's Durable Object: one SQLite-backed object (addressed by the name "global") holds
 * the whole state behind the ports — clients, tokens, the ledger and the rate-limit counters — and
 * answers every request with the same Hono app the Node server serves. Services are built once
 * per object instance (the constructor runs again after an eviction; the data is in storage).
 *
 * Why one object: see docs/workers.md (payments move money between any two wallets, so the ledger
 * is one transactional domain; one object serializes all requests, which is also its ceiling).
 *
 * Async work (payout batches, webhooks) will run from this object's alarm (`ctx.storage.setAlarm`),
 * which needs no binding.
 */
import { workerDocsAssets } from "./docs-assets.js";
import { createGatewayHandler, type GatewayHandler } from "./gateway.js";

/** The worker's bindings and vars (wrangler.toml). */
export interface WorkerEnv {
  GATEWAY: DurableObjectNamespace;
  [variable: string]: unknown;
}

/** Every request goes to this one object. */
export const GATEWAY_OBJECT_NAME = "global";

export class GatewayObject implements DurableObject {
  private readonly handler: GatewayHandler;

  constructor(ctx: DurableObjectState, env: WorkerEnv) {
    this.handler = createGatewayHandler(env, ctx.storage, { docsAssets: workerDocsAssets });
  }

  fetch(request: Request): Promise<Response> {
    return this.handler.fetch(request);
  }

  alarm(): Promise<void> {
    return this.handler.alarm();
  }
}
