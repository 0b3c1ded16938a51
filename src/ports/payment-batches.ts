/**
 * @module
 * The journal of atomic payment batches (POST /v1/payments/batch): each batch's intent (every
 * item, with the payment id it will use) is written before the first payment, and every step
 * after it, so that a gateway that dies mid-batch leaves enough behind for any instance to
 * finish the rollback (src/core/payment-batch.ts). The owner holds a lease it renews; once the
 * lease lapses, another runner may take the batch over.
 *
 * Per-item idempotency keys are claimed here too, atomically with the batch's creation: a key
 * names one payment of one batch for good once that payment stands.
 */
import type { PaymentBatchJournal } from "../core/payment-batch.js";

/** An item key already bound to a payment that stands (an earlier batch's), or held by a running batch. */
export interface ItemKeyHold {
  state: "pending" | "done";
  batchId: string;
  paymentId: string;
}

export type CreateBatchOutcome =
  | { ok: true; journal: PaymentBatchJournal }
  /** The batch id exists already (a retry of the same Idempotency-Key): its journal as stored. */
  | { ok: false; reason: "exists"; journal: PaymentBatchJournal }
  /** An item's key is held by another batch that is still running. */
  | { ok: false; reason: "key_in_use"; index: number };

export interface PaymentBatchStore {
  /**
   * Writes the intent with the caller as lease owner, and claims every item's idempotency key
   * (scope `journal.keyScope`) in the same transaction/script: a key bound to a payment that
   * stands makes that item a replay (`replayOf` set in the returned journal); a key held by a
   * running batch refuses the whole batch; nothing is written then.
   */
  createBatch(journal: PaymentBatchJournal, owner: string, now: number, leaseMs: number): Promise<CreateBatchOutcome>;
  getBatch(batchId: string): Promise<PaymentBatchJournal | null>;
  /**
   * Saves a step (the whole journal) if `owner` still holds the lease, renewing it; false when
   * another runner took the batch over. A journal whose status is final also settles its item
   * keys (src/core/payment-batch.ts itemKeyFates): bound for good, or released.
   */
  saveBatch(journal: PaymentBatchJournal, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /** Extends the lease; false when the batch is no longer `owner`'s or no longer running. */
  renewBatch(batchId: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /** Takes over up to `limit` running batches whose lease lapsed before `now`; returns them. */
  takeOverStale(owner: string, now: number, leaseMs: number, limit: number): Promise<PaymentBatchJournal[]>;
  /** The earliest lease end among running batches (when recovery may next find work); null when none runs. */
  nextLeaseEnd(): Promise<number | null>;
}
