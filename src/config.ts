/**
 * @module
 * Configuration, read once at start from environment-style strings and validated with zod.
 * A bad value throws a ConfigError naming the variable; the entry points turn it into a
 * message and a non-zero exit.
 */
import { z } from "zod";

const int = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return def;
      if (!/^\d+$/.test(v.trim())) {
        ctx.addIssue({ code: "custom", message: `must be a whole number between ${min} and ${max}` });
        return z.NEVER;
      }
      const n = Number(v.trim());
      if (n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `must be between ${min} and ${max}` });
        return z.NEVER;
      }
      return n;
    });

const oneOf = <T extends string>(values: readonly [T, ...T[]], def: T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return def;
      if (!(values as readonly string[]).includes(v)) {
        ctx.addIssue({ code: "custom", message: `must be one of ${values.join(", ")}` });
        return z.NEVER;
      }
      return v as T;
    });

export const ConfigSchema = z.object({
  PORT: int(8787, 1, 65535),
  HOST: z.string().optional().default("0.0.0.0"),
  DATA_DIR: z.string().optional().default("./data"),
  DEMO_USERS: int(50, 0, 100_000),
  MAX_CALLS: int(50, 1, 1000),
  MAX_BODY_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  BATCH_CONCURRENCY: int(10, 1, 1000),
  MAX_INFLIGHT_CALLS: int(256, 1, 100_000),
  CALL_TIMEOUT_MS: int(10_000, 1, 600_000),
  BATCH_DEADLINE_MS: int(30_000, 1, 600_000),
  LOG_LEVEL: oneOf(["trace", "debug", "info", "warn", "error", "fatal", "silent"], "info"),
  RATE_LIMIT_COST: oneOf(["request", "call"], "call"),
  CLIENT_RATE_LIMIT_POINTS: int(3000, 1, 1_000_000_000),
  CLIENT_RATE_LIMIT_WINDOW_S: int(60, 1, 86_400),
  TOKEN_RATE_LIMIT_POINTS: int(600, 1, 1_000_000_000),
  TOKEN_RATE_LIMIT_WINDOW_S: int(60, 1, 86_400),
  UPSTREAMS_FILE: z.string().optional(),
  SQLITE_SYNCHRONOUS: oneOf(["FULL", "NORMAL"], "FULL"),
  IDEMPOTENCY_RETENTION_S: int(86_400, 60, 30 * 86_400),
  /** How long an idempotency claim blocks its key unless its owner renews it (every third of it). */
  IDEMPOTENCY_LEASE_MS: int(10_000, 300, 600_000),
  STORE: oneOf(["sqlite", "redis"], "sqlite"),
  REDIS_URL: z
    .string()
    .optional()
    .default("redis://127.0.0.1:6379")
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== "";
      } catch {
        return false;
      }
    }, "must be a redis:// or rediss:// URL with a host"),
  REDIS_PREFIX: z
    .string()
    .optional()
    .default("batchgate")
    .refine((v) => /^[A-Za-z0-9:_-]{1,64}$/.test(v), "must be 1-64 of A-Z a-z 0-9 : _ -"),
  /** What the rate limiters do when Redis fails: open = fall back to in-memory limits, closed = 503. */
  REDIS_FAILURE_POLICY: oneOf(["open", "closed"], "open"),
  /** The operators' key for /admin/v1 (Authorization: Bearer); without it the admin API is off (404). */
  ADMIN_API_KEY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      if (v.length < 24 || !/^[\x21-\x7e]+$/.test(v)) {
        ctx.addIssue({ code: "custom", message: "must be at least 24 visible ASCII characters (no spaces)" });
        return z.NEVER;
      }
      return v;
    }),
  /** A second listener (Node only) serving GET /metrics without authentication; unset = none. */
  METRICS_PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      if (!/^\d{1,5}$/.test(v.trim()) || Number(v) < 1 || Number(v) > 65535) {
        ctx.addIssue({ code: "custom", message: "must be a port between 1 and 65535" });
        return z.NEVER;
      }
      return Number(v);
    }),
  /** Requests per client IP address on every route that authenticates, before authentication. */
  IP_RATE_LIMIT_POINTS: int(6000, 1, 1_000_000_000),
  IP_RATE_LIMIT_WINDOW_S: int(60, 1, 86_400),
  /** How many proxies in front of the gateway append to X-Forwarded-For (0: the header is ignored). */
  TRUST_PROXY: int(0, 0, 10),
  /** Key material (at least 32 characters) that encrypts webhook signing secrets at rest. */
  WEBHOOK_SECRET_KEY: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === "" ? undefined : v))
    .refine((v) => v === undefined || v.length >= 32, "must be at least 32 characters (e.g. openssl rand -base64 32)"),
  /** Lets webhooks go to private, loopback and link-local addresses, and over plain http (development, tests). */
  WEBHOOK_ALLOW_PRIVATE_URLS: oneOf(["true", "false"], "false").transform((v) => v === "true"),
  WEBHOOK_TIMEOUT_MS: int(10_000, 100, 60_000),
  /** Delays before each retry: a comma list of durations with a unit (ms, s, m, h). */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const text = v === undefined || v.trim() === "" ? "5s,5m,30m,2h,5h,10h,10h" : v;
      const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
      const out: number[] = [];
      for (const part of text.split(",")) {
        const m = /^\s*(\d{1,9})\s*(ms|s|m|h)\s*$/.exec(part);
        const ms = m ? Number(m[1]) * unit[m[2]] : NaN;
        if (!m || ms > 7 * 86_400_000) {
          ctx.addIssue({ code: "custom", message: "must be a comma list of 1 to 20 durations such as 5s,5m,30m,2h (units ms, s, m, h; each at most 7 days)" });
          return z.NEVER;
        }
        out.push(ms);
      }
      if (out.length > 20) {
        ctx.addIssue({ code: "custom", message: "must list at most 20 retries" });
        return z.NEVER;
      }
      return out;
    }),
  /** How long the secret before a rotation keeps signing beside the new one (seconds). */
  WEBHOOK_ROTATION_GRACE_S: int(86_400, 0, 7 * 86_400),
  /** Deliveries in flight at once per instance. */
  WEBHOOK_CONCURRENCY: int(16, 1, 256),
  /** Asynchronous batches (/v1/batches). */
  ASYNC_BATCH_MAX_ITEMS: int(5000, 1, 100_000),
  ASYNC_BATCH_MAX_BODY_BYTES: int(10 * 1024 * 1024, 1024, 256 * 1024 * 1024),
  ASYNC_BATCH_EXPIRY_S: int(7 * 86_400, 1, 365 * 86_400),
  ASYNC_BATCH_CONCURRENCY: int(64, 1, 10_000),
  /** Items started per second per API client (per process). */
  ASYNC_BATCH_RATE: int(10_000, 1, 1_000_000),
  ASYNC_BATCH_SLICE: int(500, 1, 10_000),
  /** STORE=redis: how long a BullMQ job's lock lasts without renewal (a killed instance's jobs are taken over after it). */
  ASYNC_BATCH_JOB_LOCK_MS: int(30_000, 1000, 600_000),
});

export type GatewayConfig = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`Invalid configuration: ${variable} ${detail}`);
    this.name = "ConfigError";
  }
}

/** Validates environment-style strings; throws ConfigError naming the first bad variable. */
export function parseConfig(env: Record<string, string | undefined>): GatewayConfig {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(ConfigSchema.shape)) picked[key] = env[key];
  const r = ConfigSchema.safeParse(picked);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(String(issue.path[0] ?? "configuration"), issue.message);
  }
  return r.data;
}
