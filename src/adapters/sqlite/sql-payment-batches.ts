/**
 * @module
 * The payment-batch journal (src/ports/payment-batches.ts) on the SQL store: one row per batch
 * (the journal as JSON beside its status and lease) and one row per claimed item key, changed
 * together in one transaction (migration 4).
 */
import { itemKeyFates, type PaymentBatchJournal } from "../../core/payment-batch.js";
import type { CreateBatchOutcome, PaymentBatchStore } from "../../ports/payment-batches.js";
import type { SqlDriver } from "./driver.js";

export function sqlPaymentBatches(db: SqlDriver): PaymentBatchStore {
  const read = (batchId: string): { journal: PaymentBatchJournal; owner: string; until: number } | null => {
    const r = db.get<{ journal: string; lease_owner: string; lease_until: number }>(
      "SELECT journal, lease_owner, lease_until FROM payment_batches WHERE batch_id = ?",
      [batchId],
    );
    return r ? { journal: JSON.parse(r.journal) as PaymentBatchJournal, owner: r.lease_owner, until: Number(r.lease_until) } : null;
  };
  const write = (j: PaymentBatchJournal, owner: string, until: number) =>
    db.run("UPDATE payment_batches SET status = ?, journal = ?, lease_owner = ?, lease_until = ?, updated_at = ? WHERE batch_id = ?", [
      j.status,
      JSON.stringify(j),
      owner,
      until,
      j.updatedAt,
      j.batchId,
    ]);

  return {
    createBatch: async (journal, owner, now, leaseMs): Promise<CreateBatchOutcome> =>
      db.transaction((): CreateBatchOutcome => {
        const existing = read(journal.batchId);
        if (existing) return { ok: false, reason: "exists", journal: existing.journal };
        const j: PaymentBatchJournal = structuredClone(journal);
        for (const item of j.items) {
          if (item.idempotencyKey === null) continue;
          const held = db.get<{ state: string; payment_id: string }>("SELECT state, payment_id FROM payment_item_keys WHERE scope = ? AND key = ?", [
            j.keyScope,
            item.idempotencyKey,
          ]);
          if (held?.state === "pending") return { ok: false, reason: "key_in_use", index: item.index };
          if (held) item.replayOf = held.payment_id;
        }
        for (const item of j.items) {
          if (item.idempotencyKey === null || item.replayOf !== null) continue;
          db.run("INSERT INTO payment_item_keys (scope, key, batch_id, payment_id, state) VALUES (?, ?, ?, ?, 'pending')", [
            j.keyScope,
            item.idempotencyKey,
            j.batchId,
            item.paymentId,
          ]);
        }
        db.run(
          "INSERT INTO payment_batches (batch_id, user_id, status, journal, lease_owner, lease_until, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          [j.batchId, j.userId, j.status, JSON.stringify(j), owner, now + leaseMs, j.createdAt, now],
        );
        return { ok: true, journal: j };
      }),
    getBatch: async (batchId) => read(batchId)?.journal ?? null,
    saveBatch: async (journal, owner, now, leaseMs) =>
      db.transaction(() => {
        const row = read(journal.batchId);
        if (!row || row.owner !== owner || row.journal.status !== "running") return false;
        write(journal, owner, now + leaseMs);
        if (journal.status !== "running") {
          const { bind, release } = itemKeyFates(journal);
          for (const item of bind) {
            db.run("UPDATE payment_item_keys SET state = 'done' WHERE scope = ? AND key = ? AND batch_id = ?", [journal.keyScope, item.idempotencyKey, journal.batchId]);
          }
          for (const item of release) {
            db.run("DELETE FROM payment_item_keys WHERE scope = ? AND key = ? AND batch_id = ?", [journal.keyScope, item.idempotencyKey, journal.batchId]);
          }
        }
        return true;
      }),
    renewBatch: async (batchId, owner, now, leaseMs) =>
      db.run("UPDATE payment_batches SET lease_until = ? WHERE batch_id = ? AND lease_owner = ? AND status = 'running'", [now + leaseMs, batchId, owner]) === 1,
    takeOverStale: async (owner, now, leaseMs, limit) =>
      db.transaction(() => {
        const ids = db
          .all<{ batch_id: string }>("SELECT batch_id FROM payment_batches WHERE status = 'running' AND lease_until < ? ORDER BY lease_until LIMIT ?", [now, limit])
          .map((r) => r.batch_id);
        const taken: PaymentBatchJournal[] = [];
        for (const id of ids) {
          db.run("UPDATE payment_batches SET lease_owner = ?, lease_until = ? WHERE batch_id = ?", [owner, now + leaseMs, id]);
          taken.push(read(id)!.journal);
        }
        return taken;
      }),
    nextLeaseEnd: async () => {
      const r = db.get<{ t: number | null }>("SELECT MIN(lease_until) AS t FROM payment_batches WHERE status = 'running'");
      return r?.t == null ? null : Number(r.t);
    },
  };
}
