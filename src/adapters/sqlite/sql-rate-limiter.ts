/**
 * @module
 * The RateLimiter port as a fixed-window counter in SQL, over the same synchronous SqlDriver as the
 * SQL store. On Workers the counters live in the gateway's Durable Object SQLite storage, next to
 * the ledger: one object serializes every request, and each consume is one atomic upsert, so the
 * counts are exact and survive eviction and restarts.
 *
 * Semantics match the Node limiter (rate-limiter-flexible's RateLimiterMemory), so the same
 * RateLimit headers come out:
 * - a key's window opens at its first consume and lasts `windowSeconds`; the next consume after
 *   it closes opens a new one;
 * - every consume adds its points, rejected or not; it is allowed while the window's total is at
 *   most `points`;
 * - `remaining` is max(0, points − consumed); `resetSeconds` is the window's time left, rounded up.
 *
 * Web-standard code only.
 */
import type { RateDecision, RateLimiter } from "../../ports/rate-limiter.js";
import type { Clock } from "../../ports/runtime.js";
import type { SqlDriver, SqlRow } from "./driver.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rate_limit_counters (
  policy TEXT NOT NULL, key TEXT NOT NULL, consumed INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (policy, key));
CREATE INDEX IF NOT EXISTS rate_limit_counters_expiry ON rate_limit_counters(expires_at);
`;

/** Expired windows are deleted every this many consumes (per limiter), at most PRUNE_BATCH rows at a time. */
const PRUNE_EVERY = 1000;
const PRUNE_BATCH = 1000;

export interface SqlRateLimiterOptions {
  /** Policy name in the RateLimit fields ("client", "token"); also the counters' namespace. */
  policy: string;
  points: number;
  windowSeconds: number;
  clock?: Clock;
}

export function sqlRateLimiter(db: SqlDriver, opts: SqlRateLimiterOptions): RateLimiter {
  db.exec(SCHEMA);
  const clock = opts.clock ?? { now: () => Date.now() };
  const windowMs = opts.windowSeconds * 1000;
  let sincePrune = 0;

  return {
    async consume(key: string, points: number): Promise<RateDecision> {
      const now = clock.now();
      if (++sincePrune >= PRUNE_EVERY) {
        sincePrune = 0;
        db.run(
          "DELETE FROM rate_limit_counters WHERE rowid IN (SELECT rowid FROM rate_limit_counters WHERE expires_at <= ? LIMIT ?)",
          [now, PRUNE_BATCH],
        );
      }
      // One statement: atomic on its own, whatever else the object is doing.
      const row = db.get<SqlRow>(
        `INSERT INTO rate_limit_counters (policy, key, consumed, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (policy, key) DO UPDATE SET
           consumed = CASE WHEN expires_at > ? THEN consumed + excluded.consumed ELSE excluded.consumed END,
           expires_at = CASE WHEN expires_at > ? THEN expires_at ELSE excluded.expires_at END
         RETURNING consumed, expires_at`,
        [opts.policy, key, points, now + windowMs, now, now],
      );
      if (!row) throw new Error("rate limit counter upsert returned no row");
      const consumed = Number(row.consumed);
      const msLeft = Math.max(0, Number(row.expires_at) - now);
      return {
        allowed: consumed <= opts.points,
        limit: opts.points,
        remaining: Math.max(0, opts.points - consumed),
        resetSeconds: Math.ceil(msLeft / 1000),
        windowSeconds: opts.windowSeconds,
        policy: opts.policy,
      };
    },
  };
}
