/**
 * The store contract over RedisStore on a real Redis (REDIS_URL), plus what only Redis has: key
 * layout, TTLs, several instances sharing one ledger, the audit catching tampering, fail-fast
 * clients, and the Redis rate limiter (exact, shared between instances, failure policy).
 *
 * Skipped with a warning when Redis is not reachable; failed instead when REQUIRE_REDIS=1.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { freePort } from "../../scripts/lib/local-worker.js";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertRedisUrl, connectRedis, openRedis, redactRedisUrl } from "../../src/adapters/redis/client.js";
import { redisRateLimiter } from "../../src/adapters/redis/rate-limiter.js";
import { LAYOUT_VERSION, RedisStore } from "../../src/adapters/redis/redis-store.js";
import { StoreUnavailableError } from "../../src/ports/errors.js";
import { deleteKeys, deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";
import { defineStoreContract } from "./store-contract.js";

const RUN = uniquePrefix("bgtest-store");
let seq = 0;
const nextPrefix = () => `${RUN}-${++seq}`;

/** Nothing listens here (checked in the tests that use it). */
const DEAD_URL = "redis://127.0.0.1:6390";

describeRedis("RedisStore", () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = await connectRedis(REDIS_URL);
  });
  afterAll(async () => {
    // Every test cleaned up after itself; anything left under this run's prefix is a leak.
    const left = await deleteKeys(admin, `{${RUN}-*`);
    await deleteKeys(admin, `${RUN}-*`);
    await admin.quit();
    expect(left).toBe(0);
  });

  defineStoreContract("RedisStore", async () => {
    const prefix = nextPrefix();
    return { store: new RedisStore({ redis: await connectRedis(REDIS_URL), prefix }), cleanup: async () => void (await deleteRedisPrefix(prefix)) };
  });

  describe("Redis specifics", () => {
    const T = Date.now();

    async function withStore<T>(fn: (store: RedisStore, prefix: string) => Promise<T>): Promise<T> {
      const prefix = nextPrefix();
      const store = new RedisStore({ redis: await connectRedis(REDIS_URL), prefix });
      try {
        return await fn(store, prefix);
      } finally {
        await store.close();
        await deleteRedisPrefix(prefix);
      }
    }

    async function seed(store: RedisStore, funding: number) {
      await store.ledger.createUser({ userId: "u1", email: "u1@example.com", firstName: "U", lastName: "One", createdAt: T });
      const a = await store.ledger.createWallet({ walletId: "wa", userId: "u1", currency: "USD", createdAt: T }, funding);
      const b = await store.ledger.createWallet({ walletId: "wb", userId: "u1", currency: "USD", createdAt: T }, 0);
      return { a, b };
    }

    it("answers the wallet reads asked for in one tick with one script, each with its own wallet", async () => {
      await withStore(async (store) => {
        await seed(store, 500);
        await store.ledger.setWalletStatus("wb", "frozen");
        // Count what the real client sends (a spy on its send, not a stand-in for it).
        const client = (store as unknown as { redis: Redis }).redis;
        const sent: string[] = [];
        const send = client.sendCommand.bind(client);
        client.sendCommand = ((cmd: { name: string }, ...rest: unknown[]) => {
          sent.push(cmd.name);
          return (send as (...a: unknown[]) => unknown)(cmd, ...rest);
        }) as typeof client.sendCommand;
        // 250 reads in one tick (more than one script's share), unknown ids and repeats among them.
        const ids = Array.from({ length: 250 }, (_, i) => (i % 5 === 0 ? "wa" : i % 5 === 1 ? "wb" : i % 5 === 2 ? `none${i}` : i % 5 === 3 ? "wa" : "wb"));
        const got = await Promise.all(ids.map((id) => store.ledger.getWallet(id)));
        client.sendCommand = send;
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i]!;
          if (id.startsWith("none")) expect(got[i]).toBeNull();
          else if (id === "wa") expect(got[i]).toMatchObject({ walletId: "wa", userId: "u1", currency: "USD", balance: 500, status: "active", createdAt: T });
          else expect(got[i]).toMatchObject({ walletId: "wb", balance: 0, status: "frozen" });
        }
        // Three scripts (100 reads at most each), nothing else.
        expect(sent.filter((n) => n === "evalsha" || n === "eval")).toHaveLength(3);
        expect(sent.every((n) => n === "evalsha" || n === "eval" || n === "script")).toBe(true);
        // A read asked for after a payment returned sees the payment.
        await store.ledger.setWalletStatus("wb", "active");
        const pay = await store.ledger.transfer({ paymentId: "p_after2", userId: "u1", fromWalletId: "wa", toWalletId: "wb", amount: 7, currency: "USD", description: null, now: T });
        expect(pay.ok).toBe(true);
        const [a, b] = await Promise.all([store.ledger.getWallet("wa"), store.ledger.getWallet("wb")]);
        expect([a!.balance, b!.balance]).toEqual([493, 7]);
      });
    });

    it("keeps every key under the {prefix} hash tag and the layout version", async () => {
      await withStore(async (store, prefix) => {
        await seed(store, 500);
        await store.ledger.transfer({ paymentId: "p1", userId: "u1", fromWalletId: "wa", toWalletId: "wb", amount: 5, currency: "USD", description: null, now: T });
        await store.idempotency.claim({ scope: "client:1", key: "k", fingerprint: "f", owner: "o", now: T, leaseMs: 1000, retentionMs: 60_000 });
        await store.meta.setMeta("m", "v");
        const keys: string[] = [];
        let cursor = "0";
        do {
          const [next, batch] = await admin.scan(cursor, "MATCH", `*${prefix}*`, "COUNT", 1000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== "0");
        expect(keys.length).toBeGreaterThanOrEqual(10);
        expect(keys.every((k) => k.startsWith(`{${prefix}}:v${LAYOUT_VERSION}:`))).toBe(true);
      });
    });

    it("idempotency records carry a Redis TTL of the retention, renewed on completion", async () => {
      await withStore(async (store, prefix) => {
        await store.idempotency.claim({ scope: "s", key: "k", fingerprint: "f", owner: "o", now: T, leaseMs: 1000, retentionMs: 60_000 });
        const key = `{${prefix}}:v1:idem:1:s:k`;
        const ttl1 = await admin.pttl(key);
        expect(ttl1).toBeGreaterThan(0);
        expect(ttl1).toBeLessThanOrEqual(60_000);
        expect(await store.idempotency.renew({ scope: "s", key: "k", fingerprint: "f", owner: "o" }, T + 500, 1000)).toBe(true);
        expect(await admin.pttl(key)).toBeLessThanOrEqual(60_000);
        await store.idempotency.complete({ scope: "s", key: "k", fingerprint: "f", owner: "o" }, { status: 200, body: "{}" }, T, 3_600_000);
        expect(await admin.pttl(key)).toBeGreaterThan(60_000);
      });
    });

    it("two stores on two connections share one ledger without overdraft", async () => {
      const prefix = nextPrefix();
      const s1 = new RedisStore({ redis: await connectRedis(REDIS_URL), prefix });
      const s2 = new RedisStore({ redis: await connectRedis(REDIS_URL), prefix });
      try {
        await seed(s1, 1_000);
        const calls = Array.from({ length: 100 }, (_, i) =>
          (i % 2 ? s1 : s2).ledger.transfer({ paymentId: `p${i}`, userId: "u1", fromWalletId: "wa", toWalletId: "wb", amount: 30, currency: "USD", description: null, now: T }),
        );
        const outcomes = await Promise.all(calls);
        expect(outcomes.filter((r) => r.ok)).toHaveLength(33);
        expect((await s2.ledger.getWallet("wa"))!.balance).toBe(1_000 - 33 * 30);
        expect((await s1.ledger.getWallet("wb"))!.balance).toBe(33 * 30);
        // A payment id that paid, asked again through the other instance, returns the payment and
        // moves nothing (which 33 of the 100 paid depends on the order they reached Redis).
        const paid = outcomes.findIndex((r) => r.ok);
        const other = paid % 2 ? s2 : s1;
        const again = await other.ledger.transfer({ paymentId: `p${paid}`, userId: "u1", fromWalletId: "wa", toWalletId: "wb", amount: 30, currency: "USD", description: null, now: T + 1 });
        expect(again.ok && again.payment.createdAt).toBe(T);
        expect((await s2.ledger.getWallet("wa"))!.balance).toBe(1_000 - 33 * 30);
        const audit = await s1.ledger.audit();
        expect(audit).toMatchObject({ walletBalanceSum: 1_000, entrySum: 0, mismatchedWallets: [] });
      } finally {
        await s1.close();
        await s2.close();
        await deleteRedisPrefix(prefix);
      }
    });

    it("two stores on two connections: concurrent ensureUserWallet and openTreasuryWallet end with one wallet each", async () => {
      const prefix = nextPrefix();
      const s1 = new RedisStore({ redis: await connectRedis(REDIS_URL), prefix });
      const s2 = new RedisStore({ redis: await connectRedis(REDIS_URL), prefix });
      try {
        await s1.ledger.createUser({ userId: "u1", email: "u1@example.com", firstName: "A", lastName: "B", createdAt: T });
        // An older wallet in another currency: the script must look past it.
        await s1.ledger.createWallet({ walletId: "w_eur", userId: "u1", currency: "EUR", createdAt: T }, 0);
        const ensured = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? s1 : s2).treasury.ensureUserWallet("u1", "USD", `w_${i}`, T + i)));
        expect(ensured.filter((r) => r!.opened)).toHaveLength(1);
        expect(new Set(ensured.map((r) => r!.wallet.walletId)).size).toBe(1);
        expect((await s2.ledger.listWallets("u1")).map((w) => w.currency).sort()).toEqual(["EUR", "USD"]);
        const opened = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? s1 : s2).treasury.openTreasuryWallet(7, `t_${i}`, "USD", T + i)));
        expect(opened.filter((r) => r.opened)).toHaveLength(1);
        expect(await s1.treasury.listTreasuryWallets(7)).toEqual([opened.find((r) => r.opened)!.wallet]);
        expect(await s2.ledger.listWallets("cli_7")).toHaveLength(1);
        expect(await s1.ledger.audit()).toMatchObject({ walletBalanceSum: 0, entrySum: 0, mismatchedWallets: [] });
      } finally {
        await s1.close();
        await s2.close();
        await deleteRedisPrefix(prefix);
      }
    });

    it("the audit catches a balance or a running sum changed behind the ledger's back", async () => {
      await withStore(async (store, prefix) => {
        await seed(store, 1_000);
        expect((await store.ledger.audit()).mismatchedWallets).toEqual([]);
        await admin.hincrby(`{${prefix}}:v1:balances`, "wa", 1);
        expect((await store.ledger.audit()).mismatchedWallets).toEqual(["wa"]);
        await admin.hincrby(`{${prefix}}:v1:balances`, "wa", -1);
        await admin.hincrby(`{${prefix}}:v1:accounts`, "wb", 7);
        expect((await store.ledger.audit()).mismatchedWallets).toEqual(["wb"]);
      });
    });

    it("rejects a prefix with braces", async () => {
      expect(() => new RedisStore({ redis: admin, prefix: "a{b}" })).toThrow(/prefix/);
      expect(() => new RedisStore({ redis: admin, prefix: "" })).toThrow(/prefix/);
    });
  });

  describe("clients that fail fast", () => {
    it("assertRedisUrl accepts redis:// and rediss:// and explains anything else without echoing secrets", () => {
      expect(assertRedisUrl("redis://127.0.0.1:6379").hostname).toBe("127.0.0.1");
      expect(assertRedisUrl("rediss://user:pw@cache.example.com:6380/2").protocol).toBe("rediss:");
      expect(assertRedisUrl("redis://localhost").port).toBe("");
      for (const bad of ["", "not a url", "http://localhost:6379", "redis://:s3cret@/", "redis://h:6379/db0", "redis://h:99999"]) {
        let message = "";
        try {
          assertRedisUrl(bad);
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message, bad).toMatch(/redis:\/\//);
        expect(message).not.toContain("s3cret");
      }
      expect(redactRedisUrl("redis://user:s3cret@h:1/0")).toBe("redis://user:***@h:1/0");
    });

    it("connectRedis rejects, promptly and clearly, when nothing answers", async () => {
      expect(await portAnswers(6390)).toBe(false);
      await expect(connectRedis("redis://:s3cret@127.0.0.1:6390", { timeoutMs: 1500 })).rejects.toThrow(/cannot connect to Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:6390/);
    });

    it("a store on an unreachable Redis fails with StoreUnavailableError instead of hanging", async () => {
      const store = new RedisStore({ redis: openRedis(DEAD_URL), prefix: nextPrefix() });
      try {
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.ledger.getWallet("w")).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(
          store.ledger.transfer({ paymentId: "p", userId: "u", fromWalletId: "a", toWalletId: "b", amount: 1, currency: "USD", description: null, now: 1 }),
        ).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.idempotency.claim({ scope: "s", key: "k", fingerprint: "f", owner: "o", now: 1, leaseMs: 1, retentionMs: 1 })).rejects.toBeInstanceOf(
          StoreUnavailableError,
        );
      } finally {
        await store.close();
      }
    });
  });

  describe("Redis rate limiter", () => {
    const rlPrefix = () => `${RUN}-rl-${++seq}`;
    const clients: Redis[] = [];
    const client = async () => {
      const c = await connectRedis(REDIS_URL);
      clients.push(c);
      return c;
    };
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.quit()));
    });

    it("allows exactly N per window for a key, and counts keys apart", async () => {
      const prefix = rlPrefix();
      const rl = redisRateLimiter(await client(), "client", 5, 60, { prefix, failure: "closed" });
      const decisions = await Promise.all(Array.from({ length: 8 }, () => rl.consume("k1", 1)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
      const rejected = decisions.filter((d) => !d.allowed);
      expect(rejected).toHaveLength(3);
      expect(rejected.every((d) => d.remaining === 0 && d.resetSeconds > 0 && d.resetSeconds <= 60)).toBe(true);
      expect(decisions.map((d) => d.remaining).sort()).toEqual([0, 0, 0, 0, 1, 2, 3, 4]);
      expect(decisions[0]).toMatchObject({ limit: 5, windowSeconds: 60, policy: "client" });
      expect((await rl.consume("k2", 1)).allowed).toBe(true);
      // A cost above the remaining points is refused.
      expect((await rl.consume("k2", 5)).allowed).toBe(false);
      await deleteRedisPrefix(prefix);
    });

    it("two limiters on two connections (two gateway instances) share one limit", async () => {
      const prefix = rlPrefix();
      const a = redisRateLimiter(await client(), "token", 6, 60, { prefix, failure: "closed" });
      const b = redisRateLimiter(await client(), "token", 6, 60, { prefix, failure: "closed" });
      const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).consume("tok", 1)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(6);
      expect((await a.consume("tok", 1)).allowed).toBe(false);
      expect((await b.consume("tok", 1)).allowed).toBe(false);
      await deleteRedisPrefix(prefix);
    });

    it('failure "open": an unreachable Redis falls back to the in-memory limit', async () => {
      expect(await portAnswers(6390)).toBe(false);
      const dead = openRedis(DEAD_URL);
      try {
        const rl = redisRateLimiter(dead, "client", 3, 60, { prefix: rlPrefix(), failure: "open" });
        const decisions = [];
        for (let i = 0; i < 5; i++) decisions.push(await rl.consume("k", 1));
        expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
      } finally {
        dead.disconnect();
      }
    });

    it('failure "closed": an unreachable Redis makes consume throw', async () => {
      expect(await portAnswers(6390)).toBe(false);
      const dead = openRedis(DEAD_URL);
      try {
        const rl = redisRateLimiter(dead, "client", 3, 60, { prefix: rlPrefix(), failure: "closed" });
        await expect(rl.consume("k", 1)).rejects.toThrow(Error);
        await expect(rl.consume("k", 1)).rejects.toThrow(Error);
      } finally {
        dead.disconnect();
      }
    });
  });

  // A private redis-server we can kill mid-test: what happens when Redis goes away after the
  // client was ready, and when it comes back. Needs the redis-server binary.
  const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;
  if (!hasRedisServer) console.warn("Redis outage tests SKIPPED: no redis-server binary on PATH.");
  describe.skipIf(!hasRedisServer)("outage of a Redis that was up", () => {
    let server: ChildProcess | undefined;
    let port = 0;
    const start = async () => {
      server = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"], { stdio: "ignore" });
      for (let i = 0; i < 100 && !(await portAnswers(port)); i++) await new Promise((r) => setTimeout(r, 50));
    };
    const stop = async () => {
      if (!server) return;
      const s = server;
      server = undefined;
      const exited = new Promise((r) => s.once("exit", r));
      s.kill("SIGKILL");
      await exited;
    };
    beforeAll(async () => {
      port = await freePort();
      await start();
    });
    afterAll(stop);

    it("store and limiters answer promptly while it is down, and recover when it is back", async () => {
      const url = `redis://127.0.0.1:${port}`;
      const redis = await connectRedis(url);
      const store = new RedisStore({ redis, prefix: "outage" });
      const open = redisRateLimiter(redis, "client", 2, 60, { prefix: "outage", failure: "open" });
      const closed = redisRateLimiter(redis, "token", 2, 60, { prefix: "outage", failure: "closed" });
      try {
        await store.ledger.createUser({ userId: "u", email: "u@example.com", firstName: "U", lastName: "U", createdAt: 1 });
        await store.ledger.createWallet({ walletId: "w1", userId: "u", currency: "USD", createdAt: 1 }, 100);
        await store.ledger.createWallet({ walletId: "w2", userId: "u", currency: "USD", createdAt: 1 }, 0);
        expect((await open.consume("c", 1)).allowed).toBe(true);

        await stop();
        const transfer = (id: string) =>
          store.ledger.transfer({ paymentId: id, userId: "u", fromWalletId: "w1", toWalletId: "w2", amount: 10, currency: "USD", description: null, now: 2 });
        await expect(transfer("p_down")).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
        expect((await open.consume("c", 1)).allowed).toBe(true); // from the insurance limiter
        expect((await open.consume("c", 1)).allowed).toBe(true);
        expect((await open.consume("c", 1)).allowed).toBe(false);
        await expect(closed.consume("t", 1)).rejects.toThrow(Error);

        // Back up (empty: no persistence). Nothing queued while down was sent late.
        await start();
        for (let i = 0; i < 100 && redis.status !== "ready"; i++) await new Promise((r) => setTimeout(r, 50));
        expect(redis.status).toBe("ready");
        await store.ping();
        expect(await redis.exists("{outage}:payment:p_down")).toBe(0);
        expect((await closed.consume("t", 1)).allowed).toBe(true);
      } finally {
        await store.close();
      }
    });
  });
});

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

