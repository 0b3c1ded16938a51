/**
 * @module
 * The RateLimiter port over rate-limiter-flexible. A rejection (RateLimiterRes) is a decision;
 * anything thrown as an Error is a store failure and propagates for the caller's policy.
 */
import { RateLimiterMemory, type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
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

/** In-process limiter: exact for one process, not shared between instances. */
export function memoryRateLimiter(policy: string, points: number, windowSeconds: number): RateLimiter {
  return fromFlexible(new RateLimiterMemory({ points, duration: windowSeconds, keyPrefix: policy }), policy);
}
