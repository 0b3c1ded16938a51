/**
 * @module
 * Asynchronous batches of calls (`/v1/batches`): the batch record, its items, and the store
 * operations both stores implement atomically (SQL: one transaction; Redis: one Lua script). The
 * rules (allowed status moves, the terminal status from the counts) are src/core/async-batches.ts;
 * a store applies them, it does not decide them.
 */

export const BATCH_STATUSES = ["building", "processing", "completed", "completed_with_failures", "failed", "cancelled", "expired"] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export const ITEM_STATUSES = ["pending", "succeeded", "failed", "cancelled"] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export interface BatchRecord {
  batchId: string;
  clientId: number;
  status: BatchStatus;
  label: string | null;
  /** JSON text of the caller's metadata, or null. */
  metadata: string | null;
  idempotencyKey: string | null;
  /** The caller's id for the batch (given, or generated `cbt_…`); not unique. null on batches from before it existed. */
  customerBatchId: string | null;
  totalCount: number;
  succeededCount: number;
  failedCount: number;
  cancelledCount: number;
  /** Bumped by every retry: names the run's queue jobs and events. */
  runGeneration: number;
  createdAt: number;
  updatedAt: number;
  submittedAt: number | null;
  completedAt: number | null;
  /** When a batch still building becomes expired (epoch ms). */
  expiresAt: number;
}

/** One attempt of an item: kept in the item's history when a retry starts a new one. */
export interface ItemAttempt {
  attempt: number;
  status: "succeeded" | "failed";
  /** The call's HTTP status and response (success or classic error body). */
  httpStatus: number;
  response: unknown;
  finishedAt: number;
}

export interface BatchItemRecord {
  batchId: string;
  /** Position in the batch, from 0, in the order items were added. */
  index: number;
  call: string;
  referenceId: string | null;
  idempotencyKey: string | null;
  /** JSON text of the call's parameters. */
  parameters: string;
  /** A payout item's customer_transaction_id (unique per client, like item idempotency keys); null on call items. */
  customerTransactionId: string | null;
  /** JSON text of the item's metadata, or null. */
  metadata: string | null;
  /** The principal the item's token resolved to when it was added; the token itself is never kept. */
  userId: string | null;
  scopes: string[];
  /** sha256 hex of the item's token ("" for a call without one): re-checked when the item runs. */
  tokenHash: string;
  status: ItemStatus;
  /** 1 for the first run; a retry of a failed item adds one. */
  attempt: number;
  /** Every finished attempt, oldest first (the last one is the current outcome when not pending). */
  attempts: ItemAttempt[];
  updatedAt: number;
}

/** An item as added (before it has a status). */
export type NewBatchItem = Omit<BatchItemRecord, "batchId" | "index" | "status" | "attempt" | "attempts" | "updatedAt">;

export type CreateBatchOutcome = { created: true; batch: BatchRecord } | { created: false; batch: BatchRecord };

export type AddItemsOutcome =
  | { ok: true; batch: BatchRecord }
  | { ok: false; reason: "not_found" }
  | { ok: false; reason: "not_building"; batch: BatchRecord }
  | { ok: false; reason: "too_many"; batch: BatchRecord }
  /** The item idempotency key is already used by another item of this client (`batchId`, `index`). */
  | { ok: false; reason: "key_in_use"; key: string; batchId: string; index: number; newIndex: number }
  /** The customer transaction id is already used by another item of this client (`batchId`, `index`). */
  | { ok: false; reason: "ctx_in_use"; customerTransactionId: string; batchId: string; index: number; newIndex: number };

/** New items refused (nothing stored). */
export type ItemsRefused = Extract<AddItemsOutcome, { reason: "too_many" | "key_in_use" | "ctx_in_use" }>;

/** The outcome of one item's attempt, to record. */
export interface ItemOutcome {
  index: number;
  /** The attempt that produced it: recorded only if the item is still pending at that attempt. */
  attempt: number;
  status: "succeeded" | "failed";
  httpStatus: number;
  response: unknown;
}

export interface RecordOutcomesResult {
  batch: BatchRecord;
  /** The indexes recorded now (an outcome for an item already recorded is ignored). */
  recorded: number[];
}

/**
 * Events a batch owes: items whose outcome is recorded but whose event may not have been emitted
 * (a crash can come between the two), and the run whose batch.completed digest may not have been.
 */
export interface OwedEvents {
  items: BatchItemRecord[];
  /** The run generation whose digest is owed, or null. */
  digestRun: number | null;
}

export interface ListBatchesQuery {
  limit: number;
  /** Batches older than this id (lists are newest first). */
  startingAfter?: string;
  /** Batches newer than this id. */
  endingBefore?: string;
  status?: BatchStatus;
}

export interface ListItemsQuery {
  limit: number;
  /** Items with an index greater than this. */
  startingAfter?: number;
  status?: ItemStatus;
  /** Only items whose index is in [fromIndex, toIndex). */
  fromIndex?: number;
  toIndex?: number;
  /** Only these indexes. */
  indexes?: readonly number[];
}

export interface BatchStore {
  /**
   * Creates the batch with its first items, all or none, or returns the client's batch with the
   * same idempotency key (created: false, nothing added). Items are refused as addItems refuses
   * them (`too_many`, `key_in_use`, `ctx_in_use`), and then no batch is created.
   */
  createBatch(batch: BatchRecord, items?: readonly NewBatchItem[], maxItems?: number): Promise<CreateBatchOutcome | ItemsRefused>;
  getBatch(batchId: string): Promise<BatchRecord | null>;
  /** Newest first; `hasMore` tells whether the page was cut at `limit`. */
  listBatches(clientId: number, q: ListBatchesQuery): Promise<{ batches: BatchRecord[]; hasMore: boolean }>;
  /**
   * Appends items to a building batch, all or none: refused when the batch is not building (at
   * `now`: a building batch past its expiresAt counts as not building), when the total would pass
   * `maxItems`, when an item's idempotency key is already used by an item of the same client
   * (`key_in_use`), or when its customer transaction id is (`ctx_in_use`, also for two items of
   * the same call). The checks and the insert are one step.
   */
  addItems(batchId: string, items: readonly NewBatchItem[], maxItems: number, now: number): Promise<AddItemsOutcome>;
  /** Items by index ascending. */
  listItems(batchId: string, q: ListItemsQuery): Promise<{ items: BatchItemRecord[]; hasMore: boolean }>;
  /**
   * Moves the batch to `to` if its status is one of `from` (compare-and-set); `stamp` sets
   * submittedAt/completedAt. When `to` is cancelled, its pending items become cancelled in the same
   * step. Returns the updated batch, or null when the status was not one of `from`.
   */
  moveBatch(batchId: string, from: readonly BatchStatus[], to: BatchStatus, now: number): Promise<BatchRecord | null>;
  /**
   * Records outcomes of pending items at their attempt and updates the counts; when no item is
   * left pending, the batch (if processing) moves to the terminal status `terminalOf` gives.
   * One transaction / script for the whole slice. Each recorded outcome's event is marked owed
   * in the same step, and so is the run's digest when no item is left pending.
   */
  recordOutcomes(
    batchId: string,
    outcomes: readonly ItemOutcome[],
    now: number,
    terminalOf: (counts: { succeeded: number; failed: number; cancelled: number; total: number }) => BatchStatus,
  ): Promise<RecordOutcomesResult | null>;
  /**
   * Starts a new attempt of every failed item among `indexes` (all failed items when omitted):
   * pending again, attempt + 1, history kept; the batch moves to processing with a new
   * runGeneration. Allowed from `from` statuses only. Returns null when the batch is not found or
   * not in `from`; `retried` lists the items that got a new attempt.
   */
  retryFailed(batchId: string, from: readonly BatchStatus[], indexes: readonly number[] | undefined, now: number): Promise<{ batch: BatchRecord; retried: number[] } | null>;
  /** Batch ids in `status` (at most `limit`), for the runners: processing ones to resume. */
  batchesIn(status: BatchStatus, limit: number): Promise<string[]>;
  /** Moves building batches whose expiresAt passed to expired; returns how many. */
  expireBuilding(now: number, limit: number): Promise<number>;
  /** What the batch owes (at most `limit` items, by index). */
  eventsOwed(batchId: string, limit: number): Promise<OwedEvents>;
  /**
   * Clears owed marks once their events are emitted: an item's only while it is still at the given
   * attempt (a newer attempt's event stays owed), the digest only for run `digestRun`.
   */
  eventsEmitted(batchId: string, items: readonly { index: number; attempt: number }[], digestRun: number | null): Promise<void>;
  /** Batch ids that owe events (at most `limit`), for the runners' sweep. */
  batchesOwingEvents(limit: number): Promise<string[]>;
}
