/**
 * @module
 * Atomic payment batches (DESIGN §1.3, POST /v1/payments/batch): the journal's shape, the rules
 * both stores apply to it, the item error codes, and the answer a journal stands for. The runner
 * that writes the journal is src/core/payment-batch-runner.ts.
 */

/**
 * An item's progress. `paying` is journaled before the transfer is asked for and `paid` /
 * `failed` after; `reversed` / `reversal_failed` during a rollback; `interrupted` when the
 * gateway stopped before the item's payment was made (recovery found no payment).
 */
export type ItemState = "pending" | "paying" | "paid" | "failed" | "reversed" | "reversal_failed" | "interrupted";

export interface JournalItem {
  index: number;
  from: string;
  to: string;
  /** Minor units. */
  amount: number;
  currency: string;
  description: string | null;
  idempotencyKey: string | null;
  /** Named from the batch id and the index (paymentIdFor): recovery knows which payments exist. */
  paymentId: string;
  /** Set when the item's idempotencyKey already names a payment that stands: the item replays it. */
  replayOf: string | null;
  state: ItemState;
  /** The item's error code (ITEM_ERROR_CODES) when it failed or was interrupted. */
  error: string | null;
  /** The reversal's error code when a reversal failed (the item then needs manual action). */
  reversalError: string | null;
}

export type PaymentBatchStatus = "running" | "succeeded" | "rolled_back";

export interface PaymentBatchJournal {
  batchId: string;
  /** The owner of every `from` wallet: only they may read the batch. */
  userId: string;
  /** Where the items' idempotency keys live (`user:<userId>`). */
  keyScope: string;
  status: PaymentBatchStatus;
  /** True when another runner (after a crash or a lost lease) finished the batch. */
  recovered: boolean;
  createdAt: number;
  updatedAt: number;
  items: JournalItem[];
}

export const MAX_BATCH_PAYMENTS = 20;

/**
 * The codes an item's `error` may carry (UPPER_SNAKE, as the reference API has them). Every
 * ledger failure reason maps through itemErrorCode, the one place that names them.
 */
export const ITEM_ERROR_CODES = {
  INSUFFICIENT_FUNDS: "The source wallet did not hold the amount when this payment ran.",
  WALLET_FROZEN: "A wallet of this payment is frozen.",
  NOT_FOUND: "A wallet of this payment no longer exists.",
  CURRENCY_MISMATCH: "The wallets' currencies differ.",
  SERVICE_UNAVAILABLE: "The store could not be reached; the payment's outcome was settled by recovery.",
  INTERRUPTED: "The gateway stopped before this payment ran; it was never made.",
  PROCESSING_ERROR: "The payment failed unexpectedly.",
} as const;

export type ItemErrorCode = keyof typeof ITEM_ERROR_CODES;

/** A ledger failure reason (or catalog code) as an item error code. */
export function itemErrorCode(reason: string): ItemErrorCode {
  switch (reason) {
    case "insufficient_funds":
      return "INSUFFICIENT_FUNDS";
    case "wallet_frozen":
      return "WALLET_FROZEN";
    case "not_found":
      return "NOT_FOUND";
    case "currency_mismatch":
      return "CURRENCY_MISMATCH";
    case "service_unavailable":
      return "SERVICE_UNAVAILABLE";
    case "interrupted":
      return "INTERRUPTED";
    default:
      return "PROCESSING_ERROR";
  }
}

/** What becomes of the items' idempotency keys once a batch is final. */
export function itemKeyFates(j: PaymentBatchJournal): { bind: JournalItem[]; release: JournalItem[] } {
  const bind: JournalItem[] = [];
  const release: JournalItem[] = [];
  for (const item of j.items) {
    if (item.idempotencyKey === null || item.replayOf !== null) continue;
    // A key stays bound to a payment that stands (paid, or its reversal failed): reusing it
    // replays that payment. A key whose payment never happened or was reversed is free again.
    if (item.state === "paid" || item.state === "reversal_failed") bind.push(item);
    else release.push(item);
  }
  return { bind, release };
}

export interface ResultItem {
  index: number;
  /** `pending`: not settled yet (only while the batch is running). */
  status: "success" | "reversed" | "failed" | "pending";
  transactionId?: string;
  reversalId?: string;
  error?: string;
  manualActionRequired?: true;
  /** Why the reversal failed, beside manualActionRequired. */
  reversalError?: string;
  replayed?: true;
}

/** The reversal of payment `pay_<x>` is named `rev_<x>`; its ledger entries reference the payment. */
export function reversalIdOf(paymentId: string): string {
  return `rev_${paymentId.replace(/^pay_/, "")}`;
}

export const PARTIAL_FAILURE_MESSAGE = "One or more payments failed. Succeeded payments have been reversed.";

/** The answer a journal stands for: 200 when every payment stands, 207 after a rollback. */
export function batchOutcome(j: PaymentBatchJournal): { status: 200 | 207; body: Record<string, unknown> } {
  const results: ResultItem[] = j.items.map((item) => {
    const txn = item.replayOf ?? item.paymentId;
    switch (item.state) {
      case "paid":
        return { index: item.index, status: "success", transactionId: txn, ...(item.replayOf ? { replayed: true as const } : {}) };
      case "reversal_failed":
        return { index: item.index, status: "success", transactionId: txn, manualActionRequired: true, reversalError: item.reversalError ?? "PROCESSING_ERROR" };
      case "reversed":
        return { index: item.index, status: "reversed", transactionId: txn, reversalId: reversalIdOf(txn) };
      case "pending":
      case "paying":
        if (j.status === "running") return { index: item.index, status: "pending" };
        return { index: item.index, status: "failed", error: item.error ?? "INTERRUPTED" };
      default:
        return { index: item.index, status: "failed", error: item.error ?? "INTERRUPTED" };
    }
  });
  const count = (s: ResultItem["status"]) => results.filter((r) => r.status === s).length;
  if (j.status === "succeeded") {
    return { status: 200, body: { batchId: j.batchId, results, summary: { total: results.length, succeeded: count("success"), failed: 0 } } };
  }
  return {
    status: 207,
    body: {
      batchId: j.batchId,
      error: { code: "BATCH_PARTIAL_FAILURE", message: PARTIAL_FAILURE_MESSAGE },
      results,
      summary: { total: results.length, succeeded: count("success"), reversed: count("reversed"), failed: count("failed") },
    },
  };
}
