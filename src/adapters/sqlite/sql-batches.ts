/**
 * @module
 * The asynchronous batches' store over the synchronous SQL driver (better-sqlite3 on Node, Durable
 * Object SQLite on Workers). Every operation that changes state is one transaction; the status
 * rules come from src/core/async-batches.ts via the caller. Tables: async_batches,
 * async_batch_items (one row per item, its attempts history as JSON text) and
 * async_batch_item_keys (an item idempotency key → the item that owns it, per client) and
 * async_batch_ctx_ids (a payout item's customer transaction id → the item that owns it, per client).
 */
import type {
  AddItemsOutcome,
  BatchItemRecord,
  BatchRecord,
  BatchStatus,
  BatchStore,
  CreateBatchOutcome,
  ItemAttempt,
  ItemOutcome,
  ItemsRefused,
  ItemStatus,
  ListBatchesQuery,
  ListItemsQuery,
  NewBatchItem,
  OwedEvents,
  RecordOutcomesResult,
} from "../../ports/batches.js";
import type { SqlDriver, SqlRow, SqlValue } from "./driver.js";

export const ASYNC_BATCHES_MIGRATION_SQL = `
CREATE TABLE async_batches (
  batch_id TEXT PRIMARY KEY,
  client_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  label TEXT,
  metadata TEXT,
  idempotency_key TEXT,
  total_count INTEGER NOT NULL DEFAULT 0,
  succeeded_count INTEGER NOT NULL DEFAULT 0,
  failed_count INTEGER NOT NULL DEFAULT 0,
  cancelled_count INTEGER NOT NULL DEFAULT 0,
  run_generation INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  submitted_at INTEGER,
  completed_at INTEGER,
  expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX async_batches_idem ON async_batches (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX async_batches_client ON async_batches (client_id, batch_id);
CREATE INDEX async_batches_status ON async_batches (status, expires_at);
CREATE TABLE async_batch_items (
  batch_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  call TEXT NOT NULL,
  reference_id TEXT,
  idempotency_key TEXT,
  parameters TEXT NOT NULL,
  metadata TEXT,
  user_id TEXT,
  scopes TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  attempts TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (batch_id, idx)
) WITHOUT ROWID;
CREATE INDEX async_batch_items_status ON async_batch_items (batch_id, status, idx);
CREATE TABLE async_batch_item_keys (
  client_id INTEGER NOT NULL,
  idempotency_key TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (client_id, idempotency_key)
) WITHOUT ROWID;
`;

/**
 * Events owed (a later migration): an outcome or the end of a run is stored with a marker in the
 * same transaction, cleared once its event is emitted, so a crash between the two cannot lose it.
 * `event_owed` = 1 on an item whose outcome's event may not have been emitted; `digest_owed_run` =
 * the run whose batch.completed digest may not have been emitted.
 */
export const ASYNC_BATCH_EVENTS_MIGRATION_SQL = `
ALTER TABLE async_batch_items ADD COLUMN event_owed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE async_batches ADD COLUMN digest_owed_run INTEGER;
CREATE INDEX async_batch_items_event_owed ON async_batch_items (batch_id, idx) WHERE event_owed = 1;
CREATE INDEX async_batches_digest_owed ON async_batches (batch_id) WHERE digest_owed_run IS NOT NULL;
`;

/**
 * Payout items (a later migration): the batch's customer_batch_id, an item's customer_transaction_id,
 * and the per-client table that keeps customer transaction ids unique (written with the items).
 */
export const PAYOUT_ITEMS_MIGRATION_SQL = `
ALTER TABLE async_batches ADD COLUMN customer_batch_id TEXT;
ALTER TABLE async_batch_items ADD COLUMN customer_transaction_id TEXT;
CREATE TABLE async_batch_ctx_ids (
  client_id INTEGER NOT NULL,
  customer_transaction_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (client_id, customer_transaction_id)
) WITHOUT ROWID;
`;

const BATCH_COLUMNS =
  "batch_id, client_id, status, label, metadata, idempotency_key, customer_batch_id, total_count, succeeded_count, failed_count, cancelled_count, run_generation, created_at, updated_at, submitted_at, completed_at, expires_at";
const ITEM_COLUMNS = "batch_id, idx, call, reference_id, idempotency_key, customer_transaction_id, parameters, metadata, user_id, scopes, token_hash, status, attempt, attempts, updated_at";

function batchFrom(r: SqlRow): BatchRecord {
  return {
    batchId: String(r.batch_id),
    clientId: Number(r.client_id),
    status: r.status as BatchStatus,
    label: r.label === null ? null : String(r.label),
    metadata: r.metadata === null ? null : String(r.metadata),
    idempotencyKey: r.idempotency_key === null ? null : String(r.idempotency_key),
    customerBatchId: r.customer_batch_id == null ? null : String(r.customer_batch_id),
    totalCount: Number(r.total_count),
    succeededCount: Number(r.succeeded_count),
    failedCount: Number(r.failed_count),
    cancelledCount: Number(r.cancelled_count),
    runGeneration: Number(r.run_generation),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    submittedAt: r.submitted_at === null ? null : Number(r.submitted_at),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
    expiresAt: Number(r.expires_at),
  };
}

function itemFrom(r: SqlRow): BatchItemRecord {
  return {
    batchId: String(r.batch_id),
    index: Number(r.idx),
    call: String(r.call),
    referenceId: r.reference_id === null ? null : String(r.reference_id),
    idempotencyKey: r.idempotency_key === null ? null : String(r.idempotency_key),
    parameters: String(r.parameters),
    customerTransactionId: r.customer_transaction_id == null ? null : String(r.customer_transaction_id),
    metadata: r.metadata === null ? null : String(r.metadata),
    userId: r.user_id === null ? null : String(r.user_id),
    scopes: JSON.parse(String(r.scopes)) as string[],
    tokenHash: String(r.token_hash),
    status: r.status as ItemStatus,
    attempt: Number(r.attempt),
    attempts: JSON.parse(String(r.attempts)) as ItemAttempt[],
    updatedAt: Number(r.updated_at),
  };
}

/** Carries an item refusal out of a transaction, rolling it back. */
class Refused extends Error {
  constructor(readonly outcome: ItemsRefused) {
    super("refused");
  }
}

export class SqlBatchStore implements BatchStore {
  constructor(private readonly db: SqlDriver) {}

  private batchRow(batchId: string): BatchRecord | null {
    const r = this.db.get(`SELECT ${BATCH_COLUMNS} FROM async_batches WHERE batch_id = ?`, [batchId]);
    return r ? batchFrom(r) : null;
  }

  async createBatch(b: BatchRecord, items: readonly NewBatchItem[] = [], maxItems = Infinity): Promise<CreateBatchOutcome | ItemsRefused> {
    try {
      return this.create(b, items, maxItems);
    } catch (e) {
      if (e instanceof Refused) return e.outcome;
      throw e;
    }
  }

  private create(b: BatchRecord, items: readonly NewBatchItem[], maxItems: number): CreateBatchOutcome {
    return this.db.transaction((): CreateBatchOutcome => {
      if (b.idempotencyKey !== null) {
        const r = this.db.get(`SELECT ${BATCH_COLUMNS} FROM async_batches WHERE client_id = ? AND idempotency_key = ?`, [b.clientId, b.idempotencyKey]);
        if (r) return { created: false, batch: batchFrom(r) };
      }
      this.db.run(`INSERT INTO async_batches (${BATCH_COLUMNS}) VALUES (${BATCH_COLUMNS.split(",").map(() => "?").join(", ")})`, [
        b.batchId,
        b.clientId,
        b.status,
        b.label,
        b.metadata,
        b.idempotencyKey,
        b.customerBatchId,
        b.totalCount,
        b.succeededCount,
        b.failedCount,
        b.cancelledCount,
        b.runGeneration,
        b.createdAt,
        b.updatedAt,
        b.submittedAt,
        b.completedAt,
        b.expiresAt,
      ]);
      if (items.length === 0) return { created: true as const, batch: b };
      const added = this.insertItems(b, items, maxItems, b.createdAt);
      // A refusal throws to roll the new batch back with it.
      if (!added.ok) throw new Refused(added as ItemsRefused);
      return { created: true as const, batch: added.batch };
    });
  }

  async getBatch(batchId: string): Promise<BatchRecord | null> {
    return this.batchRow(batchId);
  }

  async listBatches(clientId: number, q: ListBatchesQuery): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const where = ["client_id = ?"];
    const params: SqlValue[] = [clientId];
    if (q.status) {
      where.push("status = ?");
      params.push(q.status);
    }
    const newerFirst = q.endingBefore === undefined;
    if (q.startingAfter !== undefined) {
      where.push("batch_id < ?");
      params.push(q.startingAfter);
    }
    if (q.endingBefore !== undefined) {
      where.push("batch_id > ?");
      params.push(q.endingBefore);
    }
    params.push(q.limit + 1);
    const rows = this.db.all(`SELECT ${BATCH_COLUMNS} FROM async_batches WHERE ${where.join(" AND ")} ORDER BY batch_id ${newerFirst ? "DESC" : "ASC"} LIMIT ?`, params);
    const hasMore = rows.length > q.limit;
    const batches = rows.slice(0, q.limit).map(batchFrom);
    // ending_before pages towards newer batches; the page itself is still shown newest first.
    if (!newerFirst) batches.reverse();
    return { batches, hasMore };
  }

  async addItems(batchId: string, items: readonly NewBatchItem[], maxItems: number, now: number): Promise<AddItemsOutcome> {
    return this.db.transaction((): AddItemsOutcome => {
      const b = this.batchRow(batchId);
      if (!b) return { ok: false, reason: "not_found" };
      if (b.status !== "building" || b.expiresAt <= now) return { ok: false, reason: "not_building", batch: b };
      return this.insertItems(b, items, maxItems, now);
    });
  }

  /** Inside a transaction: every check, then every write. */
  private insertItems(b: BatchRecord, items: readonly NewBatchItem[], maxItems: number, now: number): AddItemsOutcome {
    const batchId = b.batchId;
    if (b.totalCount + items.length > maxItems) return { ok: false, reason: "too_many", batch: b };
    for (let i = 0; i < items.length; i++) {
      const key = items[i].idempotencyKey;
      if (key === null) continue;
      const owner = this.db.get<{ batch_id: string; idx: number }>("SELECT batch_id, idx FROM async_batch_item_keys WHERE client_id = ? AND idempotency_key = ?", [b.clientId, key]);
      if (owner) return { ok: false, reason: "key_in_use", key, batchId: owner.batch_id, index: Number(owner.idx), newIndex: b.totalCount + i };
    }
    const ctxSeen = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const ctx = items[i].customerTransactionId;
      if (ctx === null) continue;
      const newIndex = b.totalCount + i;
      const earlier = ctxSeen.get(ctx);
      if (earlier !== undefined) return { ok: false, reason: "ctx_in_use", customerTransactionId: ctx, batchId, index: earlier, newIndex };
      ctxSeen.set(ctx, newIndex);
      const owner = this.db.get<{ batch_id: string; idx: number }>("SELECT batch_id, idx FROM async_batch_ctx_ids WHERE client_id = ? AND customer_transaction_id = ?", [b.clientId, ctx]);
      if (owner) return { ok: false, reason: "ctx_in_use", customerTransactionId: ctx, batchId: owner.batch_id, index: Number(owner.idx), newIndex };
    }
    const insert = `INSERT INTO async_batch_items (${ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, '[]', ?)`;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const idx = b.totalCount + i;
      this.db.run(insert, [batchId, idx, it.call, it.referenceId, it.idempotencyKey, it.customerTransactionId, it.parameters, it.metadata, it.userId, JSON.stringify(it.scopes), it.tokenHash, now]);
      if (it.idempotencyKey !== null) {
        this.db.run("INSERT INTO async_batch_item_keys (client_id, idempotency_key, batch_id, idx) VALUES (?, ?, ?, ?)", [b.clientId, it.idempotencyKey, batchId, idx]);
      }
      if (it.customerTransactionId !== null) {
        this.db.run("INSERT INTO async_batch_ctx_ids (client_id, customer_transaction_id, batch_id, idx) VALUES (?, ?, ?, ?)", [b.clientId, it.customerTransactionId, batchId, idx]);
      }
    }
    this.db.run("UPDATE async_batches SET total_count = total_count + ?, updated_at = ? WHERE batch_id = ?", [items.length, now, batchId]);
    return { ok: true, batch: this.batchRow(batchId)! };
  }

  async listItems(batchId: string, q: ListItemsQuery): Promise<{ items: BatchItemRecord[]; hasMore: boolean }> {
    const where = ["batch_id = ?"];
    const params: SqlValue[] = [batchId];
    if (q.status) {
      where.push("status = ?");
      params.push(q.status);
    }
    if (q.startingAfter !== undefined) {
      where.push("idx > ?");
      params.push(q.startingAfter);
    }
    if (q.fromIndex !== undefined) {
      where.push("idx >= ?");
      params.push(q.fromIndex);
    }
    if (q.toIndex !== undefined) {
      where.push("idx < ?");
      params.push(q.toIndex);
    }
    if (q.indexes) {
      if (q.indexes.length === 0) return { items: [], hasMore: false };
      where.push(`idx IN (${q.indexes.map(() => "?").join(", ")})`);
      params.push(...q.indexes);
    }
    params.push(q.limit + 1);
    const rows = this.db.all(`SELECT ${ITEM_COLUMNS} FROM async_batch_items WHERE ${where.join(" AND ")} ORDER BY idx LIMIT ?`, params);
    return { items: rows.slice(0, q.limit).map(itemFrom), hasMore: rows.length > q.limit };
  }

  async moveBatch(batchId: string, from: readonly BatchStatus[], to: BatchStatus, now: number): Promise<BatchRecord | null> {
    return this.db.transaction(() => {
      const b = this.batchRow(batchId);
      if (!b || !from.includes(b.status)) return null;
      if (to === "processing" && b.status === "building" && b.expiresAt <= now) return null;
      if (to === "cancelled") {
        const n = this.db.run("UPDATE async_batch_items SET status = 'cancelled', updated_at = ? WHERE batch_id = ? AND status = 'pending'", [now, batchId]);
        this.db.run("UPDATE async_batches SET cancelled_count = cancelled_count + ? WHERE batch_id = ?", [n, batchId]);
      }
      const submitted = to === "processing" ? ", submitted_at = COALESCE(submitted_at, ?)" : "";
      const completed = to !== "processing" && to !== "building" ? ", completed_at = ?" : "";
      const params: SqlValue[] = [to, now];
      if (submitted) params.push(now);
      if (completed) params.push(now);
      params.push(batchId);
      this.db.run(`UPDATE async_batches SET status = ?, updated_at = ?${submitted}${completed} WHERE batch_id = ?`, params);
      return this.batchRow(batchId);
    });
  }

  async recordOutcomes(
    batchId: string,
    outcomes: readonly ItemOutcome[],
    now: number,
    terminalOf: (counts: { succeeded: number; failed: number; cancelled: number; total: number }) => BatchStatus,
  ): Promise<RecordOutcomesResult | null> {
    return this.db.transaction((): RecordOutcomesResult | null => {
      const b = this.batchRow(batchId);
      if (!b) return null;
      const recorded: number[] = [];
      let succeeded = 0;
      let failed = 0;
      let uncancelled = 0;
      for (const o of outcomes) {
        const row = this.db.get<{ status: string; attempt: number; attempts: string }>(
          "SELECT status, attempt, attempts FROM async_batch_items WHERE batch_id = ? AND idx = ?",
          [batchId, o.index],
        );
        // An item cancelled while it was running keeps what it really did.
        if (!row || Number(row.attempt) !== o.attempt || (row.status !== "pending" && row.status !== "cancelled")) continue;
        const attempts = JSON.parse(row.attempts) as ItemAttempt[];
        attempts.push({ attempt: o.attempt, status: o.status, httpStatus: o.httpStatus, response: o.response, finishedAt: now });
        this.db.run("UPDATE async_batch_items SET status = ?, attempts = ?, updated_at = ?, event_owed = 1 WHERE batch_id = ? AND idx = ?", [o.status, JSON.stringify(attempts), now, batchId, o.index]);
        if (row.status === "cancelled") uncancelled++;
        if (o.status === "succeeded") succeeded++;
        else failed++;
        recorded.push(o.index);
      }
      if (recorded.length > 0) {
        this.db.run(
          "UPDATE async_batches SET succeeded_count = succeeded_count + ?, failed_count = failed_count + ?, cancelled_count = cancelled_count - ?, updated_at = ? WHERE batch_id = ?",
          [succeeded, failed, uncancelled, now, batchId],
        );
      }
      let after = this.batchRow(batchId)!;
      if (after.status === "processing" && after.succeededCount + after.failedCount + after.cancelledCount >= after.totalCount) {
        const to = terminalOf({ succeeded: after.succeededCount, failed: after.failedCount, cancelled: after.cancelledCount, total: after.totalCount });
        this.db.run("UPDATE async_batches SET status = ?, completed_at = ?, updated_at = ?, digest_owed_run = run_generation WHERE batch_id = ?", [to, now, now, batchId]);
        after = this.batchRow(batchId)!;
      }
      return { batch: after, recorded };
    });
  }

  async retryFailed(batchId: string, from: readonly BatchStatus[], indexes: readonly number[] | undefined, now: number): Promise<{ batch: BatchRecord; retried: number[] } | null> {
    return this.db.transaction(() => {
      const b = this.batchRow(batchId);
      if (!b || !from.includes(b.status)) return null;
      const params: SqlValue[] = [batchId];
      let only = "";
      if (indexes) {
        if (indexes.length === 0) return { batch: b, retried: [] };
        only = ` AND idx IN (${indexes.map(() => "?").join(", ")})`;
        params.push(...indexes);
      }
      const rows = this.db.all<{ idx: number }>(`SELECT idx FROM async_batch_items WHERE batch_id = ? AND status = 'failed'${only} ORDER BY idx`, params);
      const retried = rows.map((r) => Number(r.idx));
      if (retried.length === 0) return { batch: b, retried };
      this.db.run(`UPDATE async_batch_items SET status = 'pending', attempt = attempt + 1, updated_at = ? WHERE batch_id = ? AND status = 'failed'${only}`, [now, ...params]);
      this.db.run(
        "UPDATE async_batches SET status = 'processing', failed_count = failed_count - ?, run_generation = run_generation + 1, completed_at = NULL, updated_at = ? WHERE batch_id = ?",
        [retried.length, now, batchId],
      );
      return { batch: this.batchRow(batchId)!, retried };
    });
  }

  async batchesIn(status: BatchStatus, limit: number): Promise<string[]> {
    return this.db.all<{ batch_id: string }>("SELECT batch_id FROM async_batches WHERE status = ? ORDER BY batch_id LIMIT ?", [status, limit]).map((r) => r.batch_id);
  }

  async expireBuilding(now: number, limit: number): Promise<number> {
    return this.db.transaction(() => {
      const ids = this.db.all<{ batch_id: string }>("SELECT batch_id FROM async_batches WHERE status = 'building' AND expires_at <= ? LIMIT ?", [now, limit]);
      for (const r of ids) {
        this.db.run("UPDATE async_batches SET status = 'expired', completed_at = ?, updated_at = ? WHERE batch_id = ? AND status = 'building'", [now, now, r.batch_id]);
      }
      return ids.length;
    });
  }

  async eventsOwed(batchId: string, limit: number): Promise<OwedEvents> {
    const rows = this.db.all(`SELECT ${ITEM_COLUMNS} FROM async_batch_items INDEXED BY async_batch_items_event_owed WHERE batch_id = ? AND event_owed = 1 ORDER BY idx LIMIT ?`, [batchId, limit]);
    const b = this.db.get<{ digest_owed_run: number | null }>("SELECT digest_owed_run FROM async_batches WHERE batch_id = ?", [batchId]);
    return { items: rows.map(itemFrom), digestRun: b?.digest_owed_run == null ? null : Number(b.digest_owed_run) };
  }

  async eventsEmitted(batchId: string, items: readonly { index: number; attempt: number }[], digestRun: number | null): Promise<void> {
    this.db.transaction(() => {
      // One statement per few hundred items: a slice's marks are cleared together.
      for (let at = 0; at < items.length; at += 400) {
        const part = items.slice(at, at + 400);
        this.db.run(
          `UPDATE async_batch_items SET event_owed = 0 WHERE batch_id = ? AND event_owed = 1 AND (idx, attempt) IN (VALUES ${part.map(() => "(?, ?)").join(", ")})`,
          [batchId, ...part.flatMap((it) => [it.index, it.attempt])],
        );
      }
      if (digestRun !== null) this.db.run("UPDATE async_batches SET digest_owed_run = NULL WHERE batch_id = ? AND digest_owed_run = ?", [batchId, digestRun]);
    });
  }

  async batchesOwingEvents(limit: number): Promise<string[]> {
    return this.db
      .all<{ batch_id: string }>(
        `SELECT batch_id FROM (SELECT batch_id FROM async_batches WHERE digest_owed_run IS NOT NULL
           UNION SELECT DISTINCT batch_id FROM async_batch_items WHERE event_owed = 1) ORDER BY batch_id LIMIT ?`,
        [limit],
      )
      .map((r) => r.batch_id);
  }
}
