/**
 * @module
 * Running one payout item of an asynchronous batch (`call: "payout"`), wallet-first: the API
 * client's treasury pays the recipient's wallet, then the recipient's wallet pays out to the rail.
 *
 * 1. The client's treasury wallet in the currency (else TREASURY_NOT_FOUND), the recipient (a user,
 *    never a `cli_` treasury holder; else RECIPIENT_NOT_FOUND), the destination (the item's, else the
 *    recipient's default on the rail; else INVALID_DESTINATION).
 * 2. The recipient's wallet in the currency, opened when there is none (`payoutWalletId`).
 * 3. The transfer treasury → wallet, `pay_<effectRef(abatch:<batch>, index)>`: no attempt in the
 *    name, so a retry finds the first attempt's transfer and never credits twice.
 * 4. The payout wallet → rail, `po_<effectRef(abatch:<batch>:attempt:<attempt>, index)>`: the attempt
 *    is in the name, so a retry after a decline asks the rail again (from the same wallet). An
 *    existing payout (the item ran before, and a crash came before its outcome was recorded) is
 *    resumed: still `processing` → the rail is asked again with the same payout id; otherwise its
 *    state is the outcome.
 * 5. The rail's answer settles the payout: completed/pending keep the money out; declined or
 *    unavailable (or a throw, or the deadline) refund it to the recipient's wallet, where it stays.
 *
 * Every money movement is named, and the ledger makes a named movement once; so running an item
 * again after a crash anywhere replays steps 3–4 and moves nothing twice. Before a retry begins
 * its own payout, the payouts of the item's earlier attempts are looked at: one still in flight or
 * already out (an attempt that failed PROCESSING_ERROR after its payout began) is the item's
 * payout, so a retry never sends the money out twice from a wallet that has other money in it.
 *
 * Anything unexpected (a store error, a malformed stored item) is the failed outcome
 * PROCESSING_ERROR, retryable; it never throws out of runPayoutItem.
 */
import type { BatchItemRecord, BatchRecord, ItemOutcome } from "../ports/batches.js";
import type { LedgerStore, Payout, PayoutFailureKind } from "../ports/ledger.js";
import type { PayoutRail, RailProvider, RailResult } from "../ports/rails.js";
import type { Clock, Logger } from "../ports/runtime.js";
import { isTreasuryHolder, treasuryHolderId, type TreasuryStore } from "../ports/treasury.js";
import { effectRef, type Sha256Hex } from "./effect-ref.js";
import { parseAmount } from "./money.js";

export { PAYOUT_CALL } from "./batch-item-input.js";

/** Every `error_code` a payout item's outcome can carry: a closed list. */
export const PAYOUT_ERROR_CODES = [
  "RECIPIENT_NOT_FOUND",
  "TREASURY_NOT_FOUND",
  "INSUFFICIENT_FUNDS_RUNTIME",
  "INVALID_DESTINATION",
  "WALLET_FROZEN",
  "RAIL_DECLINED",
  "RAIL_UNAVAILABLE",
  "RECIPIENT_FUNDS_MOVED",
  "ALREADY_COMPLETED",
  "PROCESSING_ERROR",
] as const;
export type PayoutErrorCode = (typeof PAYOUT_ERROR_CODES)[number];

export const PAYOUT_OUTCOMES = ["completed", "pending", "retained_in_wallet", "failed"] as const;
export type PayoutOutcome = (typeof PAYOUT_OUTCOMES)[number];

/** What each error code means, as the outcome's error_message starts. */
export const PAYOUT_ERROR_MESSAGES: Readonly<Record<PayoutErrorCode, string>> = {
  RECIPIENT_NOT_FOUND: "The recipient user does not exist.",
  TREASURY_NOT_FOUND: "The client has no treasury wallet in this currency.",
  INSUFFICIENT_FUNDS_RUNTIME: "The client's treasury wallet did not hold the amount when the item ran.",
  INVALID_DESTINATION: "No destination was given and the recipient has no default destination on this rail.",
  WALLET_FROZEN: "The treasury wallet or the recipient's wallet is frozen.",
  RAIL_DECLINED: "The rail declined the payout; the money stays in the recipient's wallet.",
  RAIL_UNAVAILABLE: "The rail could not be reached; the money stays in the recipient's wallet.",
  RECIPIENT_FUNDS_MOVED: "The recipient's wallet no longer holds the amount for the payout.",
  ALREADY_COMPLETED: "The item already succeeded.",
  PROCESSING_ERROR: "The item could not be processed; it can be retried.",
};

/** The stored parameters of a payout item (BatchItemRecord.parameters, as JSON). */
export interface PayoutItemParameters {
  user_id: string;
  /** Decimal string. */
  amount: string;
  currency: string;
  rail: PayoutRail;
  destination: Record<string, string> | null;
  customer_transaction_id: string | null;
}

/** A payout item's `response` (every outcome has every field; null when it does not apply). */
export interface PayoutItemResponse {
  outcome: PayoutOutcome;
  error_code: PayoutErrorCode | null;
  error_message: string | null;
  wallet_id: string | null;
  transfer_id: string | null;
  payout_id: string | null;
  payout_status: Payout["status"] | null;
  customer_transaction_id: string | null;
}

export interface PayoutDeps {
  treasury: TreasuryStore;
  ledger: LedgerStore;
  rails: RailProvider;
  clock: Clock;
  sha256Hex: Sha256Hex;
  logger: Logger;
  /** How long the rail may take before the payout counts as unavailable (refunded to the wallet). */
  railTimeoutMs: number;
}

/** The id of the wallet opened for a recipient who has none in the currency. */
export async function payoutWalletId(sha256Hex: Sha256Hex, userId: string, currency: string): Promise<string> {
  return `wal_${(await sha256Hex(`payout-wallet:${userId}:${currency}`)).slice(0, 24)}`;
}

/** The transfer (treasury → recipient wallet) of item `index`: the same for every attempt. */
export async function payoutTransferId(sha256Hex: Sha256Hex, batchId: string, index: number): Promise<string> {
  return `pay_${await effectRef(sha256Hex, { batchRef: `abatch:${batchId}`, index })}`;
}

/** The payout (recipient wallet → rail) of item `index` at `attempt`. */
export async function payoutPayoutId(sha256Hex: Sha256Hex, batchId: string, attempt: number, index: number): Promise<string> {
  return `po_${await effectRef(sha256Hex, { batchRef: `abatch:${batchId}:attempt:${attempt}`, index })}`;
}

/** HTTP status recorded with an outcome. */
export function payoutHttpStatus(outcome: PayoutOutcome, code: PayoutErrorCode | null): number {
  if (outcome === "completed" || outcome === "pending") return 200;
  if (code === "RAIL_UNAVAILABLE") return 502;
  if (code === "PROCESSING_ERROR") return 500;
  return 422;
}

class Done {
  constructor(
    readonly outcome: PayoutOutcome,
    readonly code: PayoutErrorCode | null,
    readonly detail?: string,
  ) {}
}

/** Runs one payout item; always resolves to the outcome to record (never throws). */
export async function runPayoutItem(batch: BatchRecord, item: BatchItemRecord, deps: PayoutDeps): Promise<ItemOutcome> {
  const ids: { wallet: string | null; transfer: string | null; payout: string | null; payoutStatus: Payout["status"] | null } = {
    wallet: null,
    transfer: null,
    payout: null,
    payoutStatus: null,
  };
  let ctxId: string | null = null;
  let done: Done;
  try {
    const p = parseParameters(item.parameters);
    ctxId = p.customer_transaction_id;
    done = await execute(batch, item, p, deps, ids);
  } catch (err) {
    deps.logger.error({ batch_id: batch.batchId, index: item.index, attempt: item.attempt, err: errorText(err) }, "payout item failed unexpectedly");
    done = new Done("failed", "PROCESSING_ERROR");
  }
  const response: PayoutItemResponse = {
    outcome: done.outcome,
    error_code: done.code,
    error_message: done.code === null ? null : done.detail ? `${PAYOUT_ERROR_MESSAGES[done.code]} (${done.detail})` : PAYOUT_ERROR_MESSAGES[done.code],
    wallet_id: ids.wallet,
    transfer_id: ids.transfer,
    payout_id: ids.payout,
    payout_status: ids.payoutStatus,
    customer_transaction_id: ctxId,
  };
  const succeeded = done.outcome === "completed" || done.outcome === "pending";
  return { index: item.index, attempt: item.attempt, status: succeeded ? "succeeded" : "failed", httpStatus: payoutHttpStatus(done.outcome, done.code), response };
}

async function execute(
  batch: BatchRecord,
  item: BatchItemRecord,
  p: PayoutItemParameters,
  deps: PayoutDeps,
  ids: { wallet: string | null; transfer: string | null; payout: string | null; payoutStatus: Payout["status"] | null },
): Promise<Done> {
  const { treasury, ledger, clock, sha256Hex } = deps;
  const amount = parseAmount(p.amount, p.currency);
  if (!amount.ok) throw new Error(`stored payout amount is invalid: ${amount.reason}`);

  // 1. Who pays, who is paid, where to.
  const source = await treasury.treasuryWallet(batch.clientId, p.currency);
  if (!source) return new Done("failed", "TREASURY_NOT_FOUND");
  if (isTreasuryHolder(p.user_id) || !(await ledger.getUser(p.user_id))) return new Done("failed", "RECIPIENT_NOT_FOUND");
  const destination = p.destination ?? (await treasury.defaultDestination(p.user_id, p.rail))?.destination ?? null;
  if (!destination) return new Done("failed", "INVALID_DESTINATION");

  // 2. The recipient's wallet (opened on first payout).
  const opened = await treasury.ensureUserWallet(p.user_id, p.currency, await payoutWalletId(sha256Hex, p.user_id, p.currency), clock.now());
  if (!opened) return new Done("failed", "RECIPIENT_NOT_FOUND");
  ids.wallet = opened.wallet.walletId;

  // 3. Treasury → wallet, once per item whatever the attempt.
  const transferId = await payoutTransferId(sha256Hex, batch.batchId, item.index);
  const moved = await ledger.transfer({
    paymentId: transferId,
    userId: treasuryHolderId(batch.clientId),
    fromWalletId: source.walletId,
    toWalletId: opened.wallet.walletId,
    amount: amount.minor,
    currency: p.currency,
    description: p.customer_transaction_id,
    now: clock.now(),
  });
  if (!moved.ok) {
    if (moved.reason === "insufficient_funds") return new Done("failed", "INSUFFICIENT_FUNDS_RUNTIME");
    if (moved.reason === "wallet_frozen") return new Done("failed", "WALLET_FROZEN");
    throw new Error(`transfer ${transferId}: ${moved.reason}`);
  }
  ids.transfer = transferId;
  // The wallet credited (the first run's, should another have become the user's since).
  const walletId = moved.payment.toWalletId;
  ids.wallet = walletId;

  // 4. Wallet → rail: an earlier attempt's payout still in flight or out is this item's payout.
  const earlier = await earlierPayout(batch.batchId, item, deps);
  const payoutId = earlier?.payoutId ?? (await payoutPayoutId(sha256Hex, batch.batchId, item.attempt, item.index));
  ids.payout = payoutId;
  let payout: Payout;
  if (earlier) {
    payout = earlier;
  } else {
    const begun = await ledger.beginPayout({
      payoutId,
      userId: p.user_id,
      walletId,
      amount: amount.minor,
      currency: p.currency,
      rail: p.rail,
      destination,
      description: p.customer_transaction_id,
      now: clock.now(),
    });
    if (!begun.ok) {
      if (begun.reason === "insufficient_funds") return new Done("failed", "RECIPIENT_FUNDS_MOVED");
      if (begun.reason === "wallet_frozen") return new Done("failed", "WALLET_FROZEN");
      throw new Error(`payout ${payoutId}: ${begun.reason}`);
    }
    payout = begun.payout;
  }
  ids.payoutStatus = payout.status;

  // 5. The rail, unless this payout is already past it.
  if (payout.status === "processing") {
    const answer = await askRail(deps, { payoutId, rail: payout.rail as PayoutRail, amount: payout.amount, currency: payout.currency, destination: payout.destination });
    const settled =
      answer.status === "completed" || answer.status === "pending"
        ? await ledger.settlePayout(payoutId, { status: answer.status, providerReference: answer.providerReference }, clock.now())
        : await ledger.settlePayout(payoutId, { status: "failed", failureCode: answer.reason, failureKind: answer.status === "declined" ? "declined" : "unavailable" }, clock.now());
    if (!settled) throw new Error(`payout ${payoutId} vanished while settling`);
    // Whoever settled it first (another runner of the same item) decided: report the stored state.
    payout = settled;
    ids.payoutStatus = payout.status;
  }
  return outcomeOf(payout);
}

/** The outcome a payout past the rail stands for. */
function outcomeOf(payout: Payout): Done {
  switch (payout.status) {
    case "completed":
      return new Done("completed", null);
    case "pending":
      return new Done("pending", null);
    case "failed": {
      const kind: PayoutFailureKind = payout.failureKind ?? "unavailable";
      return new Done("retained_in_wallet", kind === "declined" ? "RAIL_DECLINED" : "RAIL_UNAVAILABLE", payout.failureCode ?? undefined);
    }
    case "cancelled":
      // Cancelled by the recipient (/payout/cancel) while pending: the money is back in the wallet.
      return new Done("retained_in_wallet", "RAIL_DECLINED", "payout cancelled");
    case "processing":
      throw new Error(`payout ${payout.payoutId} is still processing after its settlement`);
  }
}

/**
 * The payout of an earlier attempt that is still in flight or already out (processing, pending,
 * completed), newest first; null when every earlier attempt's payout failed, was cancelled or was
 * never begun.
 */
async function earlierPayout(batchId: string, item: BatchItemRecord, deps: PayoutDeps): Promise<Payout | null> {
  for (let a = item.attempt - 1; a >= 1; a--) {
    const p = await deps.ledger.getPayout(await payoutPayoutId(deps.sha256Hex, batchId, a, item.index));
    if (p && (p.status === "processing" || p.status === "pending" || p.status === "completed")) return p;
  }
  return null;
}

/** The rail's answer; a throw or the deadline counts as unavailable. */
async function askRail(deps: PayoutDeps, payout: { payoutId: string; rail: PayoutRail; amount: number; currency: string; destination: Record<string, string> }): Promise<RailResult> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<RailResult>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve({ status: "unavailable", reason: "rail_timeout" });
    }, deps.railTimeoutMs);
  });
  try {
    return await Promise.race([deps.rails.send(payout, abort.signal).catch((): RailResult => ({ status: "unavailable", reason: "rail_error" })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function parseParameters(text: string): PayoutItemParameters {
  const v = JSON.parse(text) as Partial<PayoutItemParameters> | null;
  if (!v || typeof v !== "object") throw new Error("stored payout parameters are not an object");
  for (const k of ["user_id", "amount", "currency", "rail"] as const) {
    if (typeof v[k] !== "string") throw new Error(`stored payout parameters: ${k} is not a string`);
  }
  const destination = v.destination && typeof v.destination === "object" ? v.destination : null;
  const ctx = typeof v.customer_transaction_id === "string" ? v.customer_transaction_id : null;
  return { user_id: v.user_id!, amount: v.amount!, currency: v.currency!, rail: v.rail!, destination, customer_transaction_id: ctx };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
