/**
 * @module
 * Wires ports into the services the routes use. Each runtime's entry point builds the ports
 * (store, limiters, logger, hasher, payout rail) and calls createServices once.
 *
 * - GatewayPorts: what an entry point supplies (configuration and ports);
 * - GatewayServices: what the routes get (auth, idempotency, the engine...);
 * - CallServices (src/core/call-contract.ts): what a handler gets.
 */
import PQueue from "p-queue";
import type { GatewayConfig } from "./config.js";
import { AdminService } from "./core/admin.js";
import { Authenticator } from "./core/auth.js";
import { sha256HexSync } from "./core/sha256.js";
import { BatchEngine } from "./core/engine.js";
import { Idempotency } from "./core/idempotency.js";
import type { HandlerLookup } from "./core/call-contract.js";
import type { RailProvider } from "./ports/rails.js";
import type { RateLimiter } from "./ports/rate-limiter.js";
import type { Clock, Logger, SecretHasher } from "./ports/runtime.js";
import type { Store } from "./ports/store.js";

export interface GatewayPorts {
  config: GatewayConfig;
  store: Store;
  handlers: HandlerLookup;
  hasher: SecretHasher;
  logger: Logger;
  /** Outer limit per API client (cost per request or per call). */
  clientLimiter: RateLimiter;
  /** Limit per access token across calls, batched or not. */
  tokenLimiter: RateLimiter;
  /** Where payouts go (the sandbox rail unless a real one is configured). */
  rails: RailProvider;
  clock?: Clock;
  fetch?: typeof fetch;
}

export interface GatewayServices {
  config: GatewayConfig;
  store: Store;
  /** The registered calls (the OpenAPI document describes each). */
  handlers: HandlerLookup;
  auth: Authenticator;
  idempotency: Idempotency;
  engine: BatchEngine;
  clientLimiter: RateLimiter;
  logger: Logger;
  /** Provisioning (the admin API and the demo seed). */
  admin: AdminService;
  /** SHA-256 hex of ADMIN_API_KEY, taken once at start (the key itself is not kept); null: the admin API is off. */
  adminKeyHash: string | null;
}

export const systemClock: Clock = { now: () => Date.now() };

export function createServices(deps: GatewayPorts): GatewayServices {
  const clock = deps.clock ?? systemClock;
  const auth = new Authenticator(deps.store.clients, deps.store.tokens, deps.hasher, clock);
  const engine = new BatchEngine({
    handlers: deps.handlers,
    auth,
    tokenLimiter: deps.tokenLimiter,
    services: {
      ledger: deps.store.ledger,
      rails: deps.rails,
      clock,
      fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    },
    inflight: new PQueue({ concurrency: deps.config.MAX_INFLIGHT_CALLS }),
    options: {
      batchConcurrency: deps.config.BATCH_CONCURRENCY,
      callTimeoutMs: deps.config.CALL_TIMEOUT_MS,
      batchDeadlineMs: deps.config.BATCH_DEADLINE_MS,
    },
  });
  const idempotency = new Idempotency(deps.store.idempotency, deps.hasher, clock, deps.logger, {
    retentionMs: deps.config.IDEMPOTENCY_RETENTION_S * 1000,
    leaseMs: deps.config.IDEMPOTENCY_LEASE_MS,
    // Renewal stops once the longest request that could hold the claim is long over.
    maxHoldMs: Math.max(deps.config.BATCH_DEADLINE_MS, deps.config.CALL_TIMEOUT_MS) + 60_000,
  });
  return {
    config: deps.config,
    store: deps.store,
    handlers: deps.handlers,
    auth,
    idempotency,
    engine,
    clientLimiter: deps.clientLimiter,
    logger: deps.logger,
    admin: new AdminService(deps.store, deps.hasher, clock),
    adminKeyHash: deps.config.ADMIN_API_KEY ? sha256HexSync(deps.config.ADMIN_API_KEY) : null,
  };
}
