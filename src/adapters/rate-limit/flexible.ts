/**
 * @module
 * The RateLimiter port over rate-limiter-flexible. A rejection (RateLimiterRes) is a decision;
 * anything thrown as an Error is a store failure and propagates for the caller's policy.
 */
import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import type { RateDecision, RateLimiter } from "../../ports/rate-limiter.js";

export function fromFlexible(limiter: RateLimiterAbstract, policy: string): RateLimiter {
  const decide = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
    allowed,
    limit: limiter.points,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)),
    windowSeconds: limiter.duration,
    policy,
  });
  return {
    async consume(key, points) {
      try {
        return decide(await limiter.consume(key, points), true);
      } catch (e) {
        if (e instanceof RateLimiterRes) return decide(e, false);
        throw e;
      }
    },
  };
}

/** Expired windows are swept every this many consumes. */
const SWEEP_EVERY = 10_000;

/**
 * In-process limiter: exact for one process, not shared between instances. A fixed window per key
 * with rate-limiter-flexible's RateLimiterMemory semantics (the window opens at the key's first
 * consume; every consume counts, rejected or not; allowed while the total is at most `points`),
 * kept in a Map so a decision is synchronous (consumeSync) and costs no timer per key.
 */
export function memoryRateLimiter(policy: string, points: number, windowSeconds: number): RateLimiter {
  const windowMs = windowSeconds * 1000;
  const windows = new Map<string, { consumed: number; expiresAt: number }>();
  let sinceSweep = 0;
  const consumeSync = (key: string, cost: number): RateDecision => {
    const now = Date.now();
    if (++sinceSweep >= SWEEP_EVERY) {
      sinceSweep = 0;
      for (const [k, w] of windows) if (w.expiresAt <= now) windows.delete(k);
    }
    let w = windows.get(key);
    if (!w || w.expiresAt <= now) {
      w = { consumed: 0, expiresAt: now + windowMs };
      windows.set(key, w);
    }
    w.consumed += cost;
    return {
      allowed: w.consumed <= points,
      limit: points,
      remaining: Math.max(0, points - w.consumed),
      resetSeconds: Math.ceil(Math.max(0, w.expiresAt - now) / 1000),
      windowSeconds,
      policy,
    };
  };
  return { consumeSync, consume: async (key, cost) => consumeSync(key, cost) };
}
