/**
 * @module
 * Builds the gateway's services for Node from a validated config: the store (SQLite via
 * better-sqlite3 by default, Redis with STORE=redis), pino, node:crypto hashing, rate limiters
 * (in memory, or in Redis so instances share them), upstreams from UPSTREAMS_FILE.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DestinationStream } from "pino";
import { ConfigError, type GatewayConfig } from "../../config.js";
import { buildRegistry, UpstreamsFileSchema, type UpstreamConfig } from "../../handlers/index.js";
import type { Store } from "../../ports/store.js";
import type { PaymentBatchFaults } from "../../core/payment-batch-runner.js";
import { createServices, type GatewayServices } from "../../services.js";
import { SandboxRail } from "../rails/sandbox.js";
import type { RateLimiter } from "../../ports/rate-limiter.js";
import { memoryRateLimiter } from "../rate-limit/flexible.js";
import { bullBatchQueue } from "../redis/bull-batches.js";
import { connectRedis } from "../redis/client.js";
import { redisRateLimiter } from "../redis/rate-limiter.js";
import { RedisStore } from "../redis/redis-store.js";
import { openBetterSqlite } from "../sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../sqlite/sql-store.js";
import { nodeHasher } from "./hasher.js";
import { promMetrics } from "./prom-metrics.js";
import { createPinoLogger } from "./logger.js";
import { nodeWebhookPorts } from "./webhook-key.js";

export interface NodeGatewayOptions {
  /** SQLite file, ":memory:", or undefined for DATA_DIR/batchgate.sqlite. */
  sqliteFile?: string;
  /** Log destination (tests capture it); default stdout. */
  logDestination?: DestinationStream;
  fetch?: typeof fetch;
}

export function loadUpstreams(file: string | undefined): UpstreamConfig[] {
  if (!file) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError("UPSTREAMS_FILE", `could not be read as JSON (${(e as Error).message})`);
  }
  const parsed = UpstreamsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError("UPSTREAMS_FILE", `is invalid at ${issue.path.join(".") || "top level"}: ${issue.message}`);
  }
  return parsed.data.upstreams;
}

export function openSqliteStore(config: GatewayConfig, sqliteFile?: string): Store {
  let filename = sqliteFile;
  if (!filename) {
    mkdirSync(config.DATA_DIR, { recursive: true });
    filename = join(config.DATA_DIR, "batchgate.sqlite");
  }
  return new SqlStore(openBetterSqlite({ filename, synchronous: config.SQLITE_SYNCHRONOUS }));
}

interface StorePorts {
  store: Store;
  clientLimiter: RateLimiter;
  tokenLimiter: RateLimiter;
  ipLimiter: RateLimiter;
}

async function openRedisPorts(config: GatewayConfig): Promise<StorePorts> {
  let redis;
  try {
    redis = await connectRedis(config.REDIS_URL);
  } catch (e) {
    throw new ConfigError("REDIS_URL", `could not be reached (${(e as Error).message})`);
  }
  const limiter = (policy: string, points: number, window: number) =>
    redisRateLimiter(redis, policy, points, window, { prefix: config.REDIS_PREFIX, failure: config.REDIS_FAILURE_POLICY });
  return {
    store: new RedisStore({ redis, prefix: config.REDIS_PREFIX }),
    clientLimiter: limiter("client", config.CLIENT_RATE_LIMIT_POINTS, config.CLIENT_RATE_LIMIT_WINDOW_S),
    tokenLimiter: limiter("token", config.TOKEN_RATE_LIMIT_POINTS, config.TOKEN_RATE_LIMIT_WINDOW_S),
    ipLimiter: limiter("ip", config.IP_RATE_LIMIT_POINTS, config.IP_RATE_LIMIT_WINDOW_S),
  };
}

function openSqlitePorts(config: GatewayConfig, sqliteFile?: string): StorePorts {
  return {
    store: openSqliteStore(config, sqliteFile),
    clientLimiter: memoryRateLimiter("client", config.CLIENT_RATE_LIMIT_POINTS, config.CLIENT_RATE_LIMIT_WINDOW_S),
    tokenLimiter: memoryRateLimiter("token", config.TOKEN_RATE_LIMIT_POINTS, config.TOKEN_RATE_LIMIT_WINDOW_S),
    ipLimiter: memoryRateLimiter("ip", config.IP_RATE_LIMIT_POINTS, config.IP_RATE_LIMIT_WINDOW_S),
  };
}

/**
 * The test-only fault hook: `BATCHGATE_TEST_FAULT=exit_after_payment:<n>` makes the process exit
 * (code 86) right after the n-th payment of an atomic payment batch was made and journaled, so
 * tests can kill the gateway mid-batch for real. Honoured only when NODE_ENV=test; it is read
 * from the environment at start, never from a request.
 */
export function paymentBatchFaultsFrom(env: Record<string, string | undefined>): PaymentBatchFaults | undefined {
  const spec = env.BATCHGATE_TEST_FAULT;
  if (!spec || env.NODE_ENV !== "test") return undefined;
  const m = /^exit_after_payment:([1-9]\d{0,2})$/.exec(spec);
  if (!m) throw new ConfigError("BATCHGATE_TEST_FAULT", "must be exit_after_payment:<n>");
  const n = Number(m[1]);
  return {
    afterPayment: (made) => {
      if (made === n) process.exit(86);
    },
  };
}

export async function buildNodeServices(config: GatewayConfig, opts: NodeGatewayOptions = {}): Promise<GatewayServices> {
  const upstreams = loadUpstreams(config.UPSTREAMS_FILE);
  let handlers;
  try {
    handlers = buildRegistry(upstreams);
  } catch (e) {
    throw new ConfigError("UPSTREAMS_FILE", (e as Error).message);
  }
  const ports = config.STORE === "redis" ? await openRedisPorts(config) : openSqlitePorts(config, opts.sqliteFile);
  const logger = createPinoLogger(config.LOG_LEVEL, opts.logDestination);
  return createServices({
    config,
    ...ports,
    handlers,
    hasher: nodeHasher,
    rails: new SandboxRail(),
    metrics: promMetrics(),
    logger,
    paymentBatchFaults: paymentBatchFaultsFrom(process.env),
    webhooks: nodeWebhookPorts(config),
    fetch: opts.fetch,
    // Several instances share Redis: asynchronous batches run on a BullMQ queue they all work.
    batchQueue:
      config.STORE === "redis"
        ? bullBatchQueue({
            redisUrl: config.REDIS_URL,
            prefix: config.REDIS_PREFIX,
            store: ports.store.batches,
            logger,
            chunkSize: config.ASYNC_BATCH_SLICE,
            concurrency: Math.max(1, Math.ceil(config.ASYNC_BATCH_CONCURRENCY / 16)),
            lockMs: config.ASYNC_BATCH_JOB_LOCK_MS,
          })
        : undefined,
  });
}
