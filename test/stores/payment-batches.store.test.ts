/**
 * The payment-batch journal port (src/ports/payment-batches.ts) on both stores: creation with
 * item-key claims, the lease (only its owner writes; a lapsed one is taken over once), and what a
 * final journal does to its item keys.
 */
import { describe, expect, it } from "vitest";
import { connectRedis } from "../../src/adapters/redis/client.js";
import { RedisStore } from "../../src/adapters/redis/redis-store.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import type { JournalItem, PaymentBatchJournal } from "../../src/core/payment-batch.js";
import type { Store } from "../../src/ports/store.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const LEASE = 1_000;

function item(index: number, key: string | null): JournalItem {
  return { index, from: "wal_a", to: "wal_b", amount: 100, currency: "USD", description: null, idempotencyKey: key, paymentId: `pay_${index}_${Math.random().toString(36).slice(2)}`, replayOf: null, state: "pending", error: null, reversalError: null };
}

function journal(batchId: string, keys: (string | null)[]): PaymentBatchJournal {
  return { batchId, userId: "usr_1", keyScope: "user:usr_1", status: "running", recovered: false, createdAt: 1, updatedAt: 1, items: keys.map((k, i) => item(i, k)) };
}

function defineJournalContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>) {
  const withStore = async (fn: (store: Store) => Promise<void>) => {
    const { store, cleanup } = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
      await cleanup();
    }
  };

  describe(`${name}: payment batch journal`, () => {
    it("creates a batch once; the same id again returns the stored journal", async () => {
      await withStore(async (store) => {
        const j = journal("bat_1", [null, "k1"]);
        const created = await store.paymentBatches.createBatch(j, "owner-a", 1_000, LEASE);
        expect(created).toEqual({ ok: true, journal: j });
        const again = await store.paymentBatches.createBatch(journal("bat_1", [null]), "owner-b", 1_000, LEASE);
        expect(again).toEqual({ ok: false, reason: "exists", journal: j });
        expect(await store.paymentBatches.getBatch("bat_1")).toEqual(j);
        expect(await store.paymentBatches.getBatch("bat_none")).toBeNull();
      });
    });

    it("lets only the lease owner save; a lapsed lease is taken over by one runner, which then owns it", async () => {
      await withStore(async (store) => {
        const j = journal("bat_2", [null]);
        await store.paymentBatches.createBatch(j, "owner-a", 1_000, LEASE);
        expect(await store.paymentBatches.saveBatch({ ...j, updatedAt: 2 }, "owner-b", 1_100, LEASE)).toBe(false);
        expect(await store.paymentBatches.saveBatch({ ...j, updatedAt: 2 }, "owner-a", 1_100, LEASE)).toBe(true);
        expect(await store.paymentBatches.renewBatch("bat_2", "owner-a", 1_500, LEASE)).toBe(true);
        // Leased until 2,500: not stale at 2,400, stale at 2,600, taken over once.
        expect(await store.paymentBatches.takeOverStale("owner-b", 2_400, LEASE, 10)).toEqual([]);
        const taken = await store.paymentBatches.takeOverStale("owner-b", 2_600, LEASE, 10);
        expect(taken.map((t) => t.batchId)).toEqual(["bat_2"]);
        expect(await store.paymentBatches.takeOverStale("owner-c", 2_700, LEASE, 10)).toEqual([]);
        expect(await store.paymentBatches.saveBatch(j, "owner-a", 2_700, LEASE)).toBe(false);
        expect(await store.paymentBatches.renewBatch("bat_2", "owner-a", 2_700, LEASE)).toBe(false);
        const done: PaymentBatchJournal = { ...j, status: "rolled_back" };
        expect(await store.paymentBatches.saveBatch(done, "owner-b", 2_700, LEASE)).toBe(true);
        // A final batch is never written or taken over again.
        expect(await store.paymentBatches.saveBatch(done, "owner-b", 2_800, LEASE)).toBe(false);
        expect(await store.paymentBatches.takeOverStale("owner-c", 99_999, LEASE, 10)).toEqual([]);
        expect((await store.paymentBatches.getBatch("bat_2"))?.status).toBe("rolled_back");
      });
    });

    it("claims item keys with the batch: held while it runs, bound when its payment stands, freed when it was undone", async () => {
      await withStore(async (store) => {
        const a = journal("bat_a", ["k-paid", "k-undone"]);
        await store.paymentBatches.createBatch(a, "o", 1_000, LEASE);
        const blocked = await store.paymentBatches.createBatch(journal("bat_b", [null, "k-undone"]), "o", 1_000, LEASE);
        expect(blocked).toEqual({ ok: false, reason: "key_in_use", index: 1 });
        expect(await store.paymentBatches.getBatch("bat_b")).toBeNull();

        a.items[0].state = "reversal_failed";
        a.items[1].state = "reversed";
        a.status = "rolled_back";
        expect(await store.paymentBatches.saveBatch(a, "o", 1_100, LEASE)).toBe(true);

        const c = await store.paymentBatches.createBatch(journal("bat_c", ["k-paid", "k-undone"]), "o", 1_200, LEASE);
        expect(c.ok).toBe(true);
        if (!c.ok) return;
        expect(c.journal.items[0].replayOf).toBe(a.items[0].paymentId);
        expect(c.journal.items[1].replayOf).toBeNull();
        expect(await store.paymentBatches.getBatch("bat_c")).toEqual(c.journal);
      });
    });
  });
}

defineJournalContract("SqlStore", async () => ({ store: new SqlStore(openBetterSqlite({ filename: ":memory:" })), cleanup: async () => {} }));

describeRedis("RedisStore journal", () => {
  defineJournalContract("RedisStore", async () => {
    const prefix = uniquePrefix("bgtest-pbatch");
    return { store: new RedisStore({ redis: await connectRedis(REDIS_URL), prefix }), cleanup: async () => void (await deleteRedisPrefix(prefix)) };
  });
});
