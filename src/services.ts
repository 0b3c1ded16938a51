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
import { Authenticator } from "./core/auth.js";
import { BatchEngine } from "./core/engine.js";
import { Idempotency } from "./core/idempotency.js";
import type { HandlerLookup } from "./core/call-contract.js";
import { TimerRunner } from "./core/background.js";
import type { BackgroundRunner } from "./ports/background.js";
import type { EventSink } from "./ports/events.js";
import type { RailProvider } from "./ports/rails.js";
import type { RateLimiter } from "./ports/rate-limiter.js";
import type { Clock, Logger, SecretHasher } from "./ports/runtime.js";
import type { Store } from "./ports/store.js";
import type { HostResolver } from "./ports/resolver.js";
import type { SecretBox } from "./core/secret-box.js";
import { PUMP_NAME as WEBHOOK_PUMP, WebhookService } from "./core/webhooks.js";

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
  /** Runs background pumps: timers by default (Node); the Durable Object's alarm on Workers. */
  background?: BackgroundRunner;
  /** Where events for API clients go (default: the webhook outbox). */
  events?: EventSink;
  /** How webhook secrets are sealed and webhook hosts resolved (none: endpoints cannot be created). */
  webhooks?: WebhookPorts;
}

export interface WebhookPorts {
  /** Encrypts signing secrets at rest; null when no key is available (then `secretsUnavailable` says why). */
  box: SecretBox | null;
  secretsUnavailable?: string;
  /** null where names cannot be resolved (Workers). */
  resolver: HostResolver | null;
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
  /** Background work (started by the entry point once it serves). */
  background: BackgroundRunner;
  events: EventSink;
  /** Webhook endpoints, the outbox and its delivery pump. */
  webhooks: WebhookService;
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
  const background = deps.background ?? new TimerRunner({ clock, logger: deps.logger });
  const cfg = deps.config;
  const webhooks = new WebhookService({
    store: deps.store.webhooks,
    clock,
    logger: deps.logger,
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    resolver: deps.webhooks?.resolver ?? null,
    box: deps.webhooks?.box ?? null,
    secretsUnavailable: deps.webhooks?.secretsUnavailable,
    options: {
      timeoutMs: cfg.WEBHOOK_TIMEOUT_MS,
      retrySchedule: cfg.WEBHOOK_RETRY_SCHEDULE,
      rotationGraceMs: cfg.WEBHOOK_ROTATION_GRACE_S * 1000,
      concurrency: cfg.WEBHOOK_CONCURRENCY,
      allowPrivateUrls: cfg.WEBHOOK_ALLOW_PRIVATE_URLS,
    },
    wake: () => background.wake(WEBHOOK_PUMP),
  });
  background.register(WEBHOOK_PUMP, webhooks.pump);
  return {
    config: deps.config,
    store: deps.store,
    handlers: deps.handlers,
    auth,
    idempotency,
    engine,
    clientLimiter: deps.clientLimiter,
    logger: deps.logger,
    background,
    events: deps.events ?? webhooks,
    webhooks,
  };
}
