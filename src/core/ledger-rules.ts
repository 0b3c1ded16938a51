/**
 * @module
 * The ledger's state rules, written once for every store: which payment and payout transitions
 * are allowed, and what money each one moves. Stores check and apply them atomically (SQL: in
 * one transaction; Redis: the script is given the allowed states and the movement from here).
 */
import type { Payment, PaymentStatus, Payout, PayoutRequest, PayoutStatus, TransferRequest, WalletStatus } from "../ports/ledger.js";

/** From each payout status, the statuses it may move to. Completed, failed and cancelled are final. */
export const PAYOUT_TRANSITIONS: Readonly<Record<PayoutStatus, readonly PayoutStatus[]>> = {
  processing: ["completed", "pending", "failed"],
  pending: ["completed", "failed", "cancelled"],
  completed: [],
  failed: [],
  cancelled: [],
};

/** From each payment status, the statuses it may move to: a completed payment is reversed once. */
export const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  completed: ["reversed"],
  reversed: [],
};

export function canMovePayout(from: PayoutStatus, to: PayoutStatus): boolean {
  return PAYOUT_TRANSITIONS[from].includes(to);
}

export function canMovePayment(from: PaymentStatus, to: PaymentStatus): boolean {
  return PAYMENT_TRANSITIONS[from].includes(to);
}

/** The statuses a payout may be in for a move to `to`. */
export function payoutStatusesBefore(to: PayoutStatus): PayoutStatus[] {
  return (Object.keys(PAYOUT_TRANSITIONS) as PayoutStatus[]).filter((from) => canMovePayout(from, to));
}

/** The statuses a payment may be in for a move to `to`. */
export function paymentStatusesBefore(to: PaymentStatus): PaymentStatus[] {
  return (Object.keys(PAYMENT_TRANSITIONS) as PaymentStatus[]).filter((from) => canMovePayment(from, to));
}

/**
 * What a payout's move to a status does with the money held in the payouts-in-flight account:
 * nothing (still in flight), out through the rail's account, or back to the wallet. `kind` names
 * the ledger entries.
 */
export type PayoutMovement = { to: "none" } | { to: "rail" | "wallet"; kind: string };

export const PAYOUT_MOVEMENTS: Readonly<Record<PayoutStatus, PayoutMovement>> = {
  processing: { to: "none" },
  pending: { to: "none" },
  completed: { to: "rail", kind: "payout_settled" },
  failed: { to: "wallet", kind: "payout_refund" },
  cancelled: { to: "wallet", kind: "payout_cancel" },
};

/**
 * The wallet statuses money may leave or enter by a payment, a reversal, a payout or a funding.
 * A frozen wallet does neither. A payout already begun still settles: its refund (failure or
 * cancel) returns the wallet's own money, so nothing is stranded in flight by a freeze.
 */
export const WALLET_STATUSES_THAT_MOVE: readonly WalletStatus[] = ["active"];

export function walletCanMove(status: WalletStatus | undefined): boolean {
  return WALLET_STATUSES_THAT_MOVE.includes(status ?? "active");
}

/** The payment a transfer records (completed, not reversed): the same record on every store. */
export function newPayment(req: TransferRequest): Payment {
  return {
    paymentId: req.paymentId,
    userId: req.userId,
    fromWalletId: req.fromWalletId,
    toWalletId: req.toWalletId,
    amount: req.amount,
    currency: req.currency,
    description: req.description,
    status: "completed",
    createdAt: req.now,
    reversedAt: null,
  };
}

/** The payout a begun payout records (processing, the rail not asked yet): the same on every store. */
export function newPayout(req: PayoutRequest): Payout {
  return {
    payoutId: req.payoutId,
    userId: req.userId,
    walletId: req.walletId,
    amount: req.amount,
    currency: req.currency,
    rail: req.rail,
    destination: { ...req.destination },
    description: req.description,
    status: "processing",
    failureCode: null,
    failureKind: null,
    providerReference: null,
    createdAt: req.now,
    updatedAt: req.now,
  };
}
