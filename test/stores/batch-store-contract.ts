/**
 * The asynchronous batches' store contract (BatchStore, src/ports/batches.ts), run inside the
 * store contract for every store: the same checks on SQLite and on Redis. `now` is passed in.
 */
import { describe, expect, it } from "vitest";
import { terminalStatus } from "../../src/core/async-batches.js";
import type { BatchRecord, NewBatchItem } from "../../src/ports/batches.js";
import type { Store } from "../../src/ports/store.js";

const T0 = 1_800_000_000_000;

export function defineBatchStoreContract(storeOf: () => Store): void {
  describe("batches", () => {
    let seq = 0;
    const batch = (over: Partial<BatchRecord> = {}): BatchRecord => ({
      batchId: `batch_${String(++seq).padStart(26, "0")}`,
      clientId: 7,
      status: "building",
      label: "l",
      metadata: '{"a":1}',
      idempotencyKey: null,
      customerBatchId: null,
      totalCount: 0,
      succeededCount: 0,
      failedCount: 0,
      cancelledCount: 0,
      runGeneration: 0,
      createdAt: T0,
      updatedAt: T0,
      submittedAt: null,
      completedAt: null,
      expiresAt: T0 + 1000,
      ...over,
    });
    const item = (key: string | null, over: Partial<NewBatchItem> = {}): NewBatchItem => ({
      call: "/user",
      referenceId: key,
      idempotencyKey: key,
      parameters: '{"x":"1.00"}',
      customerTransactionId: null,
      metadata: null,
      userId: "usr_1",
      scopes: ["user:read"],
      tokenHash: "ab".repeat(32),
      ...over,
    });
    const ok = (index: number, attempt = 1) => ({ index, attempt, status: "succeeded" as const, httpStatus: 200, response: { i: index } });
    const bad = (index: number, attempt = 1) => ({ index, attempt, status: "failed" as const, httpStatus: 422, response: { error: "insufficient_funds" } });

    it("creates once per client idempotency key and reads back every field", async () => {
      const s = storeOf().batches;
      const b = batch({ idempotencyKey: "k1" });
      expect(await s.createBatch(b)).toEqual({ created: true, batch: b });
      expect(await s.getBatch(b.batchId)).toEqual(b);
      const again = await s.createBatch(batch({ idempotencyKey: "k1" }));
      expect(again).toEqual({ created: false, batch: b });
      expect(await s.createBatch(batch({ idempotencyKey: "k1", clientId: 8 }))).toMatchObject({ created: true });
      expect(await s.getBatch("batch_missing")).toBeNull();
    });

    it("creates with first items all or none: a refused item leaves no batch and no key", async () => {
      const s = storeOf().batches;
      const a = batch({ clientId: 55 });
      const made = await s.createBatch(a, [item("x1"), item(null)], 5);
      expect(made).toMatchObject({ created: true, batch: { batchId: a.batchId, totalCount: 2 } });
      const b = batch({ clientId: 55, idempotencyKey: "kb" });
      expect(await s.createBatch(b, [item("y1"), item("x1")], 5)).toEqual({ ok: false, reason: "key_in_use", key: "x1", batchId: a.batchId, index: 0, newIndex: 1 });
      expect(await s.getBatch(b.batchId)).toBeNull();
      expect((await s.createBatch(batch({ clientId: 55 }), [item("z1"), item("z2")], 1)) as object).toMatchObject({ ok: false, reason: "too_many" });
      // Neither the refused batch's key nor its items' keys were taken.
      const again = await s.createBatch(batch({ clientId: 55, idempotencyKey: "kb" }), [item("y1")], 5);
      expect(again).toMatchObject({ created: true, batch: { totalCount: 1 } });
      expect((await s.listBatches(55, { limit: 10 })).batches).toHaveLength(2);
    });

    it("adds items all or none: limits, expiry, and item keys unique per client", async () => {
      const s = storeOf().batches;
      const b = batch();
      await s.createBatch(b);
      const added = await s.addItems(b.batchId, [item("a"), item(null), item("b")], 4, T0);
      expect(added.ok && added.batch.totalCount).toBe(3);
      expect(await s.addItems(b.batchId, [item("c"), item("d")], 4, T0)).toMatchObject({ ok: false, reason: "too_many" });
      const other = batch();
      await s.createBatch(other);
      expect(await s.addItems(other.batchId, [item("z"), item("b")], 10, T0)).toEqual({ ok: false, reason: "key_in_use", key: "b", batchId: b.batchId, index: 2, newIndex: 1 });
      expect((await s.getBatch(other.batchId))!.totalCount).toBe(0);
      expect(await s.addItems(other.batchId, [item("z")], 10, T0 + 1000)).toMatchObject({ ok: false, reason: "not_building" });
      expect(await s.addItems("batch_missing", [item("q")], 10, T0)).toEqual({ ok: false, reason: "not_found" });
      const { items } = await s.listItems(b.batchId, { limit: 10 });
      expect(items.map((i) => [i.index, i.idempotencyKey, i.status, i.attempt])).toEqual([
        [0, "a", "pending", 1],
        [1, null, "pending", 1],
        [2, "b", "pending", 1],
      ]);
      expect(items[0]).toMatchObject({ call: "/user", parameters: '{"x":"1.00"}', scopes: ["user:read"], tokenHash: "ab".repeat(32), attempts: [] });
    });

    it("keeps customer batch and transaction ids; a customer transaction id is unique per client, checked with the insert", async () => {
      const s = storeOf().batches;
      const payout = (key: string, ctx: string) =>
        item(key, { call: "payout", customerTransactionId: ctx, userId: "usr_r", scopes: [], tokenHash: "", parameters: JSON.stringify({ customer_transaction_id: ctx }) });
      const a = batch({ clientId: 301, customerBatchId: "run-1" });
      const made = await s.createBatch(a, [payout("pk1", "ctx-1"), item("ck1"), payout("pk2", "ctx-2")], 10);
      expect(made).toMatchObject({ created: true, batch: { customerBatchId: "run-1", totalCount: 3 } });
      expect(await s.getBatch(a.batchId)).toMatchObject({ customerBatchId: "run-1" });
      expect((await s.listBatches(301, { limit: 1 })).batches[0].customerBatchId).toBe("run-1");
      const { items } = await s.listItems(a.batchId, { limit: 10 });
      expect(items.map((i) => [i.call, i.customerTransactionId, i.userId, i.tokenHash])).toEqual([
        ["payout", "ctx-1", "usr_r", ""],
        ["/user", null, "usr_1", "ab".repeat(32)],
        ["payout", "ctx-2", "usr_r", ""],
      ]);

      // Used by another batch of the client: refused at create (no batch left) and at add (nothing added).
      const b = batch({ clientId: 301, idempotencyKey: "kb" });
      expect(await s.createBatch(b, [payout("pk3", "ctx-3"), payout("pk4", "ctx-2")], 10)).toEqual({
        ok: false,
        reason: "ctx_in_use",
        customerTransactionId: "ctx-2",
        batchId: a.batchId,
        index: 2,
        newIndex: 1,
      });
      expect(await s.getBatch(b.batchId)).toBeNull();
      const c = batch({ clientId: 301 });
      await s.createBatch(c, [payout("pk5", "ctx-5")], 10);
      expect(await s.addItems(c.batchId, [payout("pk6", "ctx-6"), payout("pk7", "ctx-1")], 10, T0)).toEqual({
        ok: false,
        reason: "ctx_in_use",
        customerTransactionId: "ctx-1",
        batchId: a.batchId,
        index: 0,
        newIndex: 2,
      });
      // Twice in one call, or again in the same batch: the owner is that batch.
      expect(await s.addItems(c.batchId, [payout("pk8", "ctx-8"), payout("pk9", "ctx-8")], 10, T0)).toEqual({
        ok: false,
        reason: "ctx_in_use",
        customerTransactionId: "ctx-8",
        batchId: c.batchId,
        index: 1,
        newIndex: 2,
      });
      expect(await s.addItems(c.batchId, [payout("pk10", "ctx-5")], 10, T0)).toMatchObject({ reason: "ctx_in_use", batchId: c.batchId, index: 0, newIndex: 1 });
      const d = batch({ clientId: 301 });
      expect(await s.createBatch(d, [payout("pk11", "ctx-11"), payout("pk12", "ctx-11")], 10)).toMatchObject({ reason: "ctx_in_use", batchId: d.batchId, index: 0, newIndex: 1 });
      expect(await s.getBatch(d.batchId)).toBeNull();
      expect((await s.getBatch(c.batchId))!.totalCount).toBe(1);

      // Nothing refused was taken: neither ids nor item keys; ids and item keys do not collide; another client has its own.
      const again = await s.createBatch(batch({ clientId: 301, idempotencyKey: "kb" }), [payout("pk3", "ctx-3"), payout("pk6", "ctx-6"), payout("pk8", "ctx-8"), payout("ctx-1", "pk1")], 10);
      expect(again).toMatchObject({ created: true, batch: { totalCount: 4 } });
      expect(await s.createBatch(batch({ clientId: 302 }), [payout("pk1", "ctx-1")], 10)).toMatchObject({ created: true });
      // The item key check still comes with it.
      expect(await s.addItems(c.batchId, [payout("pk1", "ctx-new")], 10, T0)).toMatchObject({ reason: "key_in_use", key: "pk1", batchId: a.batchId });
    });

    it("moves by compare-and-set; records outcomes once; ends with the terminal status; retries keep history", async () => {
      const s = storeOf().batches;
      const b = batch();
      await s.createBatch(b);
      await s.addItems(b.batchId, [item(null), item(null), item(null)], 10, T0);
      const moved = await s.moveBatch(b.batchId, ["building"], "processing", T0 + 1);
      expect(moved).toMatchObject({ status: "processing", submittedAt: T0 + 1 });
      expect(await s.moveBatch(b.batchId, ["building"], "processing", T0 + 2)).toBeNull();
      expect(await s.batchesIn("processing", 10)).toContain(b.batchId);

      const first = await s.recordOutcomes(b.batchId, [ok(0), bad(1)], T0 + 3, terminalStatus);
      expect(first!.recorded).toEqual([0, 1]);
      expect(first!.batch).toMatchObject({ status: "processing", succeededCount: 1, failedCount: 1 });
      // Recording the same item again, or at a stale attempt, changes nothing.
      const dup = await s.recordOutcomes(b.batchId, [bad(0), ok(2, 2)], T0 + 4, terminalStatus);
      expect(dup!.recorded).toEqual([]);
      const pending = await s.listItems(b.batchId, { limit: 10, status: "pending" });
      expect(pending.items.map((i) => i.index)).toEqual([2]);
      const last = await s.recordOutcomes(b.batchId, [ok(2)], T0 + 5, terminalStatus);
      expect(last!.batch).toMatchObject({ status: "completed_with_failures", succeededCount: 2, failedCount: 1, completedAt: T0 + 5 });
      expect(await s.batchesIn("processing", 10)).not.toContain(b.batchId);

      const retry = await s.retryFailed(b.batchId, ["completed", "completed_with_failures", "failed"], undefined, T0 + 6);
      expect(retry!.retried).toEqual([1]);
      expect(retry!.batch).toMatchObject({ status: "processing", failedCount: 0, runGeneration: 1, completedAt: null });
      const again = await s.recordOutcomes(b.batchId, [ok(1, 2)], T0 + 7, terminalStatus);
      expect(again!.batch).toMatchObject({ status: "completed", succeededCount: 3 });
      const it1 = (await s.listItems(b.batchId, { limit: 1, indexes: [1] })).items[0];
      expect(it1).toMatchObject({ status: "succeeded", attempt: 2 });
      expect(it1.attempts.map((a) => [a.attempt, a.status, a.httpStatus])).toEqual([
        [1, "failed", 422],
        [2, "succeeded", 200],
      ]);
      expect(await s.retryFailed(b.batchId, ["completed"], [0, 1], T0 + 8)).toMatchObject({ retried: [] });
      expect(await s.retryFailed(b.batchId, ["failed"], undefined, T0 + 8)).toBeNull();
    });

    it("owes each recorded outcome's event and a run's digest until told they were emitted", async () => {
      const s = storeOf().batches;
      const b = batch();
      await s.createBatch(b);
      await s.addItems(b.batchId, [item(null), item(null), item(null)], 10, T0);
      await s.moveBatch(b.batchId, ["building"], "processing", T0 + 1);
      expect(await s.eventsOwed(b.batchId, 10)).toEqual({ items: [], digestRun: null });
      expect(await s.batchesOwingEvents(1000)).not.toContain(b.batchId);

      await s.recordOutcomes(b.batchId, [ok(0), bad(1)], T0 + 2, terminalStatus);
      const owed = await s.eventsOwed(b.batchId, 10);
      expect(owed.items.map((i) => [i.index, i.status, i.attempt])).toEqual([
        [0, "succeeded", 1],
        [1, "failed", 1],
      ]);
      expect(owed.digestRun).toBeNull();
      expect(await s.batchesOwingEvents(1000)).toContain(b.batchId);
      expect((await s.eventsOwed(b.batchId, 1)).items.map((i) => i.index)).toEqual([0]);
      // A clear at another attempt than the item's clears nothing.
      await s.eventsEmitted(b.batchId, [{ index: 0, attempt: 1 }, { index: 1, attempt: 2 }], null);
      expect((await s.eventsOwed(b.batchId, 10)).items.map((i) => i.index)).toEqual([1]);

      // The last outcome ends the run: its digest is owed with it.
      const last = await s.recordOutcomes(b.batchId, [ok(2)], T0 + 3, terminalStatus);
      expect(last!.batch.status).toBe("completed_with_failures");
      const end = await s.eventsOwed(b.batchId, 10);
      expect(end.items.map((i) => i.index)).toEqual([1, 2]);
      expect(end.digestRun).toBe(0);
      await s.eventsEmitted(b.batchId, [{ index: 1, attempt: 1 }, { index: 2, attempt: 1 }], null);
      expect(await s.eventsOwed(b.batchId, 10)).toEqual({ items: [], digestRun: 0 });
      expect(await s.batchesOwingEvents(1000)).toContain(b.batchId);
      await s.eventsEmitted(b.batchId, [], 1);
      expect((await s.eventsOwed(b.batchId, 10)).digestRun).toBe(0);
      await s.eventsEmitted(b.batchId, [], 0);
      expect(await s.eventsOwed(b.batchId, 10)).toEqual({ items: [], digestRun: null });
      expect(await s.batchesOwingEvents(1000)).not.toContain(b.batchId);

      // A retried item's new attempt is owed again once recorded; the next run's digest too.
      await s.retryFailed(b.batchId, ["completed_with_failures"], undefined, T0 + 4);
      expect((await s.eventsOwed(b.batchId, 10)).items).toEqual([]);
      await s.recordOutcomes(b.batchId, [ok(1, 2)], T0 + 5, terminalStatus);
      const rerun = await s.eventsOwed(b.batchId, 10);
      expect(rerun.items.map((i) => [i.index, i.attempt, i.attempts.length])).toEqual([[1, 2, 2]]);
      expect(rerun.digestRun).toBe(1);
    });

    it("cancel makes pending items cancelled; an item running at the cancel keeps its outcome", async () => {
      const s = storeOf().batches;
      const b = batch();
      await s.createBatch(b);
      await s.addItems(b.batchId, [item(null), item(null), item(null)], 10, T0);
      await s.moveBatch(b.batchId, ["building"], "processing", T0);
      await s.recordOutcomes(b.batchId, [ok(0)], T0, terminalStatus);
      const c = await s.moveBatch(b.batchId, ["building", "processing"], "cancelled", T0 + 1);
      expect(c).toMatchObject({ status: "cancelled", succeededCount: 1, cancelledCount: 2, completedAt: T0 + 1 });
      const late = await s.recordOutcomes(b.batchId, [ok(1)], T0 + 2, terminalStatus);
      expect(late!.batch).toMatchObject({ status: "cancelled", succeededCount: 2, cancelledCount: 1 });
      const statuses = (await s.listItems(b.batchId, { limit: 10 })).items.map((i) => i.status);
      expect(statuses).toEqual(["succeeded", "succeeded", "cancelled"]);
    });

    it("expires building batches past their time; lists newest first with cursors and a status filter", async () => {
      const s = storeOf().batches;
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const b = batch({ clientId: 99, expiresAt: T0 + 10 * i });
        ids.push(b.batchId);
        await s.createBatch(b);
      }
      expect(await s.expireBuilding(T0 + 15, 10)).toBe(2);
      expect((await s.getBatch(ids[0]))!.status).toBe("expired");
      expect((await s.getBatch(ids[2]))!.status).toBe("building");
      expect(await s.moveBatch(ids[2], ["building"], "processing", T0 + 25)).toBeNull();

      const p1 = await s.listBatches(99, { limit: 2 });
      expect(p1.batches.map((b) => b.batchId)).toEqual([ids[3], ids[2]]);
      expect(p1.hasMore).toBe(true);
      const p2 = await s.listBatches(99, { limit: 2, startingAfter: ids[2] });
      expect(p2.batches.map((b) => b.batchId)).toEqual([ids[1], ids[0]]);
      expect(p2.hasMore).toBe(false);
      const back = await s.listBatches(99, { limit: 2, endingBefore: ids[0] });
      expect(back.batches.map((b) => b.batchId)).toEqual([ids[2], ids[1]]);
      expect(back.hasMore).toBe(true);
      const expired = await s.listBatches(99, { limit: 10, status: "expired" });
      expect(expired.batches.map((b) => b.batchId)).toEqual([ids[1], ids[0]]);
      expect((await s.listBatches(98, { limit: 10 })).batches).toEqual([]);
    });

    it("pages items by index with a status filter", async () => {
      const s = storeOf().batches;
      const b = batch();
      await s.createBatch(b);
      await s.addItems(b.batchId, Array.from({ length: 7 }, () => item(null)), 10, T0);
      await s.moveBatch(b.batchId, ["building"], "processing", T0);
      await s.recordOutcomes(b.batchId, [bad(1), bad(4), ok(5)], T0, terminalStatus);
      const page = await s.listItems(b.batchId, { limit: 3, startingAfter: 1 });
      expect(page.items.map((i) => i.index)).toEqual([2, 3, 4]);
      expect(page.hasMore).toBe(true);
      const failed = await s.listItems(b.batchId, { limit: 1, status: "failed" });
      expect(failed.items.map((i) => i.index)).toEqual([1]);
      expect(failed.hasMore).toBe(true);
      const ranged = await s.listItems(b.batchId, { limit: 10, status: "pending", fromIndex: 2, toIndex: 6 });
      expect(ranged.items.map((i) => i.index)).toEqual([2, 3]);
    });
  });
}
