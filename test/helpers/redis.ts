/**
 * Redis for tests: REDIS_URL (default redis://127.0.0.1:6379), a probe, a gate that skips Redis
 * suites loudly when Redis is absent (or fails them when REQUIRE_REDIS=1), unique key prefixes
 * and SCAN+DEL cleanup.
 *
 * vitest collects tests synchronously, so Redis is probed once with top-level await when this
 * module loads (REDIS_UP), before any test file that imports it defines its suites:
 *
 *   describeRedis("RedisStore", () => { ... });
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { describe, it } from "vitest";
import { redactRedisUrl } from "../../src/adapters/redis/client.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const REQUIRE_REDIS = process.env.REQUIRE_REDIS === "1";

/** PING with a short timeout; never throws, never leaves a connection open. */
export async function redisAvailable(url = REDIS_URL, timeoutMs = 1500): Promise<boolean> {
  let redis: Redis | undefined;
  try {
    redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on("error", () => {});
    const client = redis;
    const probe = (async () => {
      await client.connect();
      return (await client.ping()) === "PONG";
    })().catch(() => false);
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs + 500).unref());
    return await Promise.race([probe, timeout]);
  } catch {
    return false;
  } finally {
    redis?.disconnect();
  }
}

/** Whether Redis answered at REDIS_URL when this module loaded. */
export const REDIS_UP: boolean = await redisAvailable();

/**
 * `describe` when Redis is up. When it is not: a skipped describe and a console warning, or,
 * with REQUIRE_REDIS=1, a describe whose one test fails saying why.
 */
export function describeRedis(name: string, fn: () => void, available: boolean = REDIS_UP): void {
  if (available) {
    describe(name, fn);
    return;
  }
  if (REQUIRE_REDIS) {
    describe(name, () => {
      it("needs a reachable Redis (REQUIRE_REDIS=1)", () => {
        throw new Error(`REQUIRE_REDIS=1 but no Redis answers at ${redactRedisUrl(REDIS_URL)}`);
      });
    });
    return;
  }
  console.warn(`Redis suites SKIPPED: no Redis at ${redactRedisUrl(REDIS_URL)} ("${name}"). Set REDIS_URL, or REQUIRE_REDIS=1 to fail instead.`);
  describe.skip(name, fn);
}

/** A key prefix no other run shares (letters, digits, '-', ':' only). */
export function uniquePrefix(label = "bgtest"): string {
  return `${label}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Deletes every key matching the glob (SCAN + DEL in batches); returns how many. */
export async function deleteKeys(redis: Redis, match: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== "0");
  return deleted;
}

const globEscape = (s: string) => s.replace(/[\\*?[\]]/g, (c) => `\\${c}`);

/**
 * Deletes what a gateway with this REDIS_PREFIX wrote: the store's `{prefix}:*` keys and the
 * rate limiters' `prefix:*` keys. Opens (and closes) its own connection.
 */
export async function deleteRedisPrefix(prefix: string, url = REDIS_URL): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 5000 });
  redis.on("error", () => {});
  try {
    const p = globEscape(prefix);
    return (await deleteKeys(redis, `{${p}}:*`)) + (await deleteKeys(redis, `${p}:*`));
  } finally {
    redis.disconnect();
  }
}
