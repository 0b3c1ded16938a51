/**
 * Payout batches for tests: items as the store keeps them (`call: "payout"`), a batch created
 * straight in a store and moved to processing, and the money picture the ledger's audit gives.
 */
import { newId } from "../../src/core/ids.js";
import type { BatchRecord, BatchStore, NewBatchItem } from "../../src/ports/batches.js";
import type { LedgerStore } from "../../src/ports/ledger.js";

export interface PayoutSpec {
  user_id: string;
  amount: string;
  currency?: string;
  rail?: string;
  destination?: Record<string, string> | null;
  customer_transaction_id?: string;
  reference_id?: string;
}

export const ACH = { routing_number: "021000021", account_number: "12345678" };
export const CHECK = { name: "Ada Lovelace", address: "1 Analytical Way, London" };

/** A stored payout item (what the submit side stores for `{type:"payout", ...}`). */
export function payoutItem(i: number, p: PayoutSpec): NewBatchItem {
  const rail = p.rail ?? "ach";
  const destination = p.destination === undefined ? (rail === "check" ? CHECK : ACH) : p.destination;
  const ctx = p.customer_transaction_id ?? `ctx_test_${i}`;
  return {
    call: "payout",
    referenceId: p.reference_id ?? `r${i}`,
    idempotencyKey: `po-item-${i}-${Math.random().toString(36).slice(2)}`,
    parameters: JSON.stringify({ user_id: p.user_id, amount: p.amount, currency: p.currency ?? "USD", rail, destination, customer_transaction_id: ctx }),
    metadata: null,
    userId: p.user_id,
    scopes: [],
    tokenHash: "",
    customerTransactionId: ctx,
  } as NewBatchItem;
}

/** Creates a processing batch of these items directly in the store; returns its record. */
export async function createPayoutBatch(store: BatchStore, clientId: number, items: NewBatchItem[]): Promise<BatchRecord> {
  const now = Date.now();
  const record = {
    batchId: newId("batch", now),
    clientId,
    status: "building",
    label: "payouts",
    metadata: null,
    idempotencyKey: null,
    totalCount: 0,
    succeededCount: 0,
    failedCount: 0,
    cancelledCount: 0,
    runGeneration: 0,
    createdAt: now,
    updatedAt: now,
    submittedAt: null,
    completedAt: null,
    expiresAt: now + 86_400_000,
    customerBatchId: null,
  } as BatchRecord;
  const made = await store.createBatch(record, items, 10_000);
  if ("reason" in made) throw new Error(`batch refused: ${made.reason}`);
  const moved = await store.moveBatch(record.batchId, ["building"], "processing", now);
  if (!moved) throw new Error("batch did not move to processing");
  return moved;
}

/** The ledger's money picture: every wallet, each system account, and the checks. */
export async function money(ledger: LedgerStore) {
  const a = await ledger.audit();
  const system = Object.values(a.systemAccounts).reduce((x, y) => x + y, 0);
  return {
    walletSum: a.walletBalanceSum,
    system: a.systemAccounts,
    /** wallets + system accounts: zero when money is conserved. */
    total: a.walletBalanceSum + system,
    entrySum: a.entrySum,
    mismatched: a.mismatchedWallets,
  };
}
