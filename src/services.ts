/**
 * @module
 * Wires ports into the services the routes use. Each runtime's entry point builds the ports
 * (store, limiters, logger, hasher, payout rail) and calls createServices once.
 *
 * - GatewayPorts: what an entry point supplies (configuration and ports);
 * - GatewayServices: what the routes get (auth, idempotency, the engine...);
 * - CallServices (src/core/call-contract.ts): what a handler gets.
 */
import type { GatewayConfig } from "./config.js";
import { AdminService } from "./core/admin.js";
import { Authenticator } from "./core/auth.js";
import { callMetrics } from "./core/call-metrics.js";
import { BatchEngine } from "./core/engine.js";
import { Idempotency } from "./core/idempotency.js";
import type { HandlerLookup } from "./core/call-contract.js";
import { TimerRunner } from "./core/background.js";
import { AsyncBatches, type BatchDispatch } from "./core/async-batches.js";
import { AsyncBatchRunner } from "./core/async-batch-runner.js";
import type { BackgroundRunner } from "./ports/background.js";
import type { EventSink } from "./ports/events.js";
import { PaymentBatchRunner, type PaymentBatchFaults } from "./core/payment-batch-runner.js";
import { AtomicRunner } from "./core/atomic.js";
import type { Metrics } from "./ports/metrics.js";
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
  /** Limit per client IP address in front of authentication. */
  ipLimiter: RateLimiter;
  /** Where the gateway's counters go (prom-client on Node, the text registry on Workers). */
  metrics: Metrics;
  clock?: Clock;
  fetch?: typeof fetch;
  /** Runs background pumps: timers by default (Node); the Durable Object's alarm on Workers. */
  background?: BackgroundRunner;
  /** Where events for API clients go (default: the webhook outbox). */
  events?: EventSink;
  /** Test-only faults for atomic payment batches (the Node entry point, NODE_ENV=test only). */
  paymentBatchFaults?: PaymentBatchFaults;
  /** How webhook secrets are sealed and webhook hosts resolved (none: endpoints cannot be created). */
  webhooks?: WebhookPorts;
  /**
   * Runs asynchronous batches on a shared queue (BullMQ on STORE=redis) instead of the
   * `async-batches` pump; given the runner, returns how to start a batch.
   */
  batchQueue?: (runner: AsyncBatchRunner) => BatchQueue;
}

export interface WebhookPorts {
  /** Encrypts signing secrets at rest; null when no key is available (then `secretsUnavailable` says why). */
  box: SecretBox | null;
  secretsUnavailable?: string;
  /** null where names cannot be resolved (Workers). */
  resolver: HostResolver | null;
}

/** A queue that runs batch slices (several instances share it). */
export interface BatchQueue {
  dispatch: BatchDispatch;
  /** The background pump that keeps it going: re-dispatches processing batches, expires building ones. */
  pump(): import("./ports/background.js").Pump;
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
  ipLimiter: RateLimiter;
  metrics: Metrics;
  logger: Logger;
  /** Background work (started by the entry point once it serves). */
  background: BackgroundRunner;
  events: EventSink;
  /** Atomic payment batches (POST /v1/payments/batch) and their crash recovery. */
  paymentBatches: PaymentBatchRunner;
  /** `atomic: true` batches on /batch/create. */
  atomic: AtomicRunner;
  /** Provisioning (the admin API and the demo seed). */
  admin: AdminService;
  /** SHA-256 hex of ADMIN_API_KEY, taken once at start with the runtime's hasher; null: the admin API is off. */
  adminKeyHash: Promise<string> | null;
  /** Webhook endpoints, the outbox and its delivery pump. */
  webhooks: WebhookService;
  /** Asynchronous batches (/v1/batches). */
  asyncBatches: AsyncBatches;
}

/** The background pump that rolls back or settles atomic payment batches whose runner died. */
export const PAYMENT_BATCH_RECOVERY = "payment-batch-recovery";

export const systemClock: Clock = { now: () => Date.now() };

export function createServices(deps: GatewayPorts): GatewayServices {
  const clock = deps.clock ?? systemClock;
  const auth = new Authenticator(deps.store.clients, deps.store.tokens, deps.hasher, clock);
  const callServices = {
    ledger: deps.store.ledger,
    rails: deps.rails,
    clock,
    fetch: deps.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init)),
  };
  const engine = new BatchEngine({
    handlers: deps.handlers,
    auth,
    tokenLimiter: deps.tokenLimiter,
    services: callServices,
    inflight: { concurrency: deps.config.MAX_INFLIGHT_CALLS },
    readSnapshot: (fn) => deps.store.readSnapshot(fn),
    options: {
      batchConcurrency: deps.config.BATCH_CONCURRENCY,
      callTimeoutMs: deps.config.CALL_TIMEOUT_MS,
      batchDeadlineMs: deps.config.BATCH_DEADLINE_MS,
    },
    observer: callMetrics(deps.metrics, deps.handlers),
  });
  deps.metrics.gaugeFrom("batchgate_calls_in_flight", () => engine.inflightCalls);
  deps.metrics.gaugeFrom("batchgate_calls_queued", () => engine.queuedCalls);
  const idempotency = new Idempotency(deps.store.idempotency, deps.hasher, clock, deps.logger, {
    retentionMs: deps.config.IDEMPOTENCY_RETENTION_S * 1000,
    leaseMs: deps.config.IDEMPOTENCY_LEASE_MS,
    // Renewal stops once the longest request that could hold the claim is long over.
    maxHoldMs: Math.max(deps.config.BATCH_DEADLINE_MS, deps.config.CALL_TIMEOUT_MS) + 60_000,
  });
  const background = deps.background ?? new TimerRunner({ clock, logger: deps.logger });
  const paymentBatches = new PaymentBatchRunner({
    store: deps.store.paymentBatches,
    ledger: deps.store.ledger,
    clock,
    logger: deps.logger,
    leaseMs: deps.config.IDEMPOTENCY_LEASE_MS,
    metrics: deps.metrics,
    faults: deps.paymentBatchFaults,
    onBatchStarted: () => background.wake(PAYMENT_BATCH_RECOVERY),
  });
  // Both kinds are exposed from the start (at 0), so an alert can watch them before the first case.
  for (const kind of ["payment_batch_reversal", "atomic_call_compensation"]) deps.metrics.inc("batchgate_manual_action_required_total", { kind }, 0);
  background.register(PAYMENT_BATCH_RECOVERY, (now) => paymentBatches.recoveryPump(now));
  const atomic = new AtomicRunner({ engine, handlers: deps.handlers, auth, services: callServices, logger: deps.logger, metrics: deps.metrics });
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
  const events = deps.events ?? webhooks;
  let dispatch: BatchDispatch = () => background.wake("async-batches");
  const asyncBatches = new AsyncBatches({
    store: deps.store.batches,
    handlers: deps.handlers,
    auth,
    events,
    clock,
    logger: deps.logger,
    limits: { maxItems: deps.config.ASYNC_BATCH_MAX_ITEMS, expiryMs: deps.config.ASYNC_BATCH_EXPIRY_S * 1000 },
    dispatch: (b) => dispatch(b),
  });
  const runner = new AsyncBatchRunner({
    store: deps.store.batches,
    batches: asyncBatches,
    engine,
    treasury: deps.store.treasury,
    ledger: deps.store.ledger,
    rails: deps.rails,
    sha256Hex: (text) => auth.hash(text),
    clock,
    logger: deps.logger,
    options: {
      concurrency: deps.config.ASYNC_BATCH_CONCURRENCY,
      ratePerClient: deps.config.ASYNC_BATCH_RATE,
      sliceSize: deps.config.ASYNC_BATCH_SLICE,
      railTimeoutMs: deps.config.CALL_TIMEOUT_MS,
    },
  });
  if (deps.batchQueue) {
    const queue = deps.batchQueue(runner);
    dispatch = queue.dispatch;
    background.register("async-batches", queue.pump());
  } else {
    background.register("async-batches", runner.pump());
  }
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
    events,
    webhooks,
    ipLimiter: deps.ipLimiter,
    metrics: deps.metrics,
    paymentBatches,
    atomic,
    admin: new AdminService(deps.store, deps.hasher, clock),
    adminKeyHash: deps.config.ADMIN_API_KEY ? Promise.resolve(deps.hasher.sha256Hex(deps.config.ADMIN_API_KEY)) : null,
    asyncBatches,
  };
}
