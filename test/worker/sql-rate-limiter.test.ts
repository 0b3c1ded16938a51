/**
 * The SQL rate limiter (the Workers one, counters in the Durable Object's SQLite) behaves exactly
 * like the Node one (rate-limiter-flexible in memory): same decisions, same remaining and reset,
 * step by step, including rejected consumes that still count and windows that expire.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { memoryRateLimiter } from "../../src/adapters/rate-limit/flexible.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { durableObjectSqlDriver } from "../../src/adapters/sqlite/durable-object-driver.js";
import { sqlRateLimiter } from "../../src/adapters/sqlite/sql-rate-limiter.js";
import type { RateLimiter } from "../../src/ports/rate-limiter.js";
import { fakeDurableObjectStorage } from "../helpers/fake-do-storage.js";

afterEach(() => {
  vi.useRealTimers();
});

type Step = { advanceMs?: number; key: string; points: number };

async function run(limiter: RateLimiter, steps: Step[], start: number) {
  vi.setSystemTime(start);
  const out = [];
  for (const s of steps) {
    if (s.advanceMs) vi.advanceTimersByTime(s.advanceMs);
    out.push(await limiter.consume(s.key, s.points));
  }
  return out;
}

const STEPS: Step[] = [
  { key: "a", points: 1 },
  { key: "a", points: 1 },
  { key: "b", points: 4 },
  { key: "a", points: 3 }, // 5: exactly the limit
  { key: "a", points: 1 }, // 6: rejected, and it counts
  { advanceMs: 1500, key: "a", points: 1 },
  { key: "b", points: 2 }, // b over its own limit
  { advanceMs: 28_499, key: "a", points: 1 },
  { advanceMs: 30_000, key: "a", points: 1 }, // 1 ms before a's window closes
  { advanceMs: 1, key: "a", points: 2 }, // the window closed: a new one opens
  { advanceMs: 10, key: "a", points: 3 },
  { key: "a", points: 1 },
  { advanceMs: 61_000, key: "b", points: 6 }, // a whole new window, over the limit at once
  { key: "c", points: 50 },
];

describe("SQL rate limiter", () => {
  it("decides exactly as the Node limiter does, step by step (fixed window from the first hit)", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    const start = Date.UTC(2026, 0, 1, 12, 0, 0, 250);
    const node = await run(memoryRateLimiter("token", 5, 60), STEPS, start);
    const sql = await run(
      sqlRateLimiter(openBetterSqlite({ filename: ":memory:" }), { policy: "token", points: 5, windowSeconds: 60, clock: { now: () => Date.now() } }),
      STEPS,
      start,
    );
    expect(sql).toEqual(node);
    // And the sequence does exercise what it claims to.
    expect(node.map((d) => d.allowed)).toEqual([true, true, true, true, false, false, false, false, false, true, true, false, false, false]);
    expect(node[3]).toMatchObject({ remaining: 0, resetSeconds: 60, limit: 5, windowSeconds: 60, policy: "token" });
    expect(node[5].resetSeconds).toBe(59);
  });

  it("runs over the Durable Object driver, keeps counters per policy, and prunes expired windows", async () => {
    let now = 1_000_000;
    const storage = fakeDurableObjectStorage();
    const db = durableObjectSqlDriver(storage);
    const client = sqlRateLimiter(db, { policy: "client", points: 3, windowSeconds: 10, clock: { now: () => now } });
    const token = sqlRateLimiter(db, { policy: "token", points: 3, windowSeconds: 10, clock: { now: () => now } });
    expect((await client.consume("k", 3)).allowed).toBe(true);
    expect((await token.consume("k", 1)).remaining).toBe(2); // same key, other policy: its own counter
    expect((await client.consume("k", 1)).allowed).toBe(false);
    now += 10_000;
    expect(await client.consume("k", 1)).toMatchObject({ allowed: true, remaining: 2, resetSeconds: 10 });

    // Many keys whose windows have closed are deleted as consumes go on (bounded work per consume).
    for (let i = 0; i < 1500; i++) await token.consume(`old-${i}`, 1);
    now += 20_000;
    for (let i = 0; i < 1000; i++) await token.consume("fresh", 0);
    const left = storage.db.prepare("SELECT COUNT(*) AS n FROM rate_limit_counters WHERE expires_at <= ?").get(now) as { n: number };
    expect(left.n).toBeLessThan(1500);
  });
});
