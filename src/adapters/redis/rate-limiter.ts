/**
 * @module
 * The RateLimiter port over Redis (rate-limiter-flexible's RateLimiterRedis: one Lua INCRBY +
 * TTL per consume), so every gateway instance on the same Redis shares each client's and token's
 * limits.
 *
 * Failure policy when Redis errors or is not connected (`rejectIfRedisNotReady`: no waiting for
 * a dead connection; otherwise the client's command timeout bounds the wait):
 * - "open": the decision comes from an in-memory insurance limiter with the same points and
 *   window. Limits stay enforced per instance, so N instances admit up to N times the limit
 *   until Redis is back; counts made in memory are not carried over to Redis.
 * - "closed": the store error propagates as a thrown Error (the caller answers 503).
 *
 * Keys are `<prefix>:rl:<policy>:<key>` without a hash tag, so on a cluster they spread over slots.
 */
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import type { RateLimiter } from "../../ports/rate-limiter.js";
import { fromFlexible } from "../rate-limit/flexible.js";

export type RedisFailurePolicy = "open" | "closed";

export interface RedisRateLimiterOptions {
  /** Key namespace, e.g. the store's prefix. */
  prefix: string;
  failure: RedisFailurePolicy;
}

export function redisRateLimiter(redis: Redis, policy: string, points: number, windowSeconds: number, opts: RedisRateLimiterOptions): RateLimiter {
  const keyPrefix = `${opts.prefix}:rl:${policy}`;
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    // ioredis, not node-redis: use defineCommand/EVALSHA and ioredis' reply shapes.
    useRedisPackage: false,
    rejectIfRedisNotReady: true,
    points,
    duration: windowSeconds,
    keyPrefix,
    insuranceLimiter: opts.failure === "open" ? new RateLimiterMemory({ points, duration: windowSeconds, keyPrefix }) : undefined,
  });
  return fromFlexible(limiter, policy);
}
