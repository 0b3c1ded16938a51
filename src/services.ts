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
import { AsyncBatches, type BatchDispatch } from "./core/async-batches.js";
import { AsyncBatchRunner } from "./core/async-batch-runner.js";
import type { BackgroundRunner } from "./ports/background.js";
import { discardEvents, type EventSink } from "./ports/events.js";
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
  /** Runs background pumps: timers by default (Node); the Durable Object's alarm on Workers. */
  background?: BackgroundRunner;
  /** Where events for API clients go (the webhook outbox). */
  events?: EventSink;
  /**
   * Runs asynchronous batches on a shared queue (BullMQ on STORE=redis) instead of the
   * `async-batches` pump; given the runner, returns how to start a batch.
   */
  batchQueue?: (runner: AsyncBatchRunner) => BatchQueue;
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
  logger: Logger;
  /** Background work (started by the entry point once it serves). */
  background: BackgroundRunner;
  events: EventSink;
  /** Asynchronous batches (/v1/batches). */
  asyncBatches: AsyncBatches;
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
  const events = deps.events ?? discardEvents;
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
    sha256Hex: (text) => auth.hash(text),
    clock,
    logger: deps.logger,
    options: { concurrency: deps.config.ASYNC_BATCH_CONCURRENCY, ratePerClient: deps.config.ASYNC_BATCH_RATE, sliceSize: deps.config.ASYNC_BATCH_SLICE },
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
    asyncBatches,
  };
}
