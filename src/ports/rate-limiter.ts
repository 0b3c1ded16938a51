/**
 * @module
 * Rate limiting port. A rejection is a decision (allowed: false); a store failure is a thrown
 * Error, which the caller's policy turns into fail-open or fail-closed.
 */

export interface RateDecision {
  allowed: boolean;
  /** Points allowed per window. */
  limit: number;
  remaining: number;
  /** Seconds until the window resets (and, when rejected, until a retry can succeed). */
  resetSeconds: number;
  windowSeconds: number;
  /** Policy name for the RateLimit-Policy / RateLimit fields. */
  policy: string;
}

export interface RateLimiter {
  consume(key: string, points: number): Promise<RateDecision>;
  /**
   * The same decision, synchronously, for limiters that keep their counters in process; absent
   * otherwise. Callers use it when present to avoid a promise per call.
   */
  consumeSync?(key: string, points: number): RateDecision;
}
