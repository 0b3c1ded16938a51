/**
 * @module
 * The ledger: users, wallets, payments, payouts, and the audit that proves money is conserved.
 * The rules every implementation obeys (which transitions are allowed, what each movement does)
 * are in src/core/ledger-rules.ts; the record shapes' field mapping in src/core/records.ts.
 */

export interface User {
  userId: string;
  email: string;
  firstName: string;
  lastName: string;
  createdAt: number;
}

/** A frozen wallet can neither send nor receive (src/core/ledger-rules.ts). */
export type WalletStatus = "active" | "frozen";

export interface Wallet {
  walletId: string;
  userId: string;
  currency: string;
  /** Minor units; never negative. */
  balance: number;
  /** Absent when written means active. */
  status?: WalletStatus;
  createdAt: number;
}

export type PaymentStatus = "completed" | "reversed";

export interface Payment {
  paymentId: string;
  userId: string;
  fromWalletId: string;
  toWalletId: string;
  amount: number;
  currency: string;
  description: string | null;
  status: PaymentStatus;
  createdAt: number;
  reversedAt: number | null;
}

export type PayoutStatus = "processing" | "pending" | "completed" | "failed" | "cancelled";

/** Why a payout failed, told apart by the rail's answer: it said no, or it could not be reached. */
export type PayoutFailureKind = "declined" | "unavailable";

export interface Payout {
  payoutId: string;
  userId: string;
  walletId: string;
  amount: number;
  currency: string;
  rail: string;
  /** Rail-specific destination, stored as given (no secrets: card payouts take a card token). */
  destination: Record<string, string>;
  description: string | null;
  status: PayoutStatus;
  /** The rail's reason, as the rail gave it. */
  failureCode: string | null;
  failureKind: PayoutFailureKind | null;
  providerReference: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface TransferRequest {
  paymentId: string;
  userId: string;
  fromWalletId: string;
  toWalletId: string;
  amount: number;
  currency: string;
  description: string | null;
  now: number;
}

export type TransferOutcome =
  | { ok: true; payment: Payment }
  | { ok: false; reason: "not_found" | "insufficient_funds" | "currency_mismatch" | "wallet_frozen" };

export type ReverseOutcome =
  | { ok: true; payment: Payment }
  | { ok: false; reason: "not_found" | "payment_not_reversible" | "insufficient_funds" | "wallet_frozen" };

export interface PayoutRequest {
  payoutId: string;
  userId: string;
  walletId: string;
  amount: number;
  currency: string;
  rail: string;
  destination: Record<string, string>;
  description: string | null;
  now: number;
}

export type BeginPayoutOutcome =
  | { ok: true; payout: Payout }
  | { ok: false; reason: "not_found" | "insufficient_funds" | "currency_mismatch" | "wallet_frozen" };

/** How a payout in `processing` ends once the rail has answered. */
export type PayoutSettlement =
  | { status: "completed" | "pending"; providerReference: string }
  | { status: "failed"; failureCode: string; failureKind: PayoutFailureKind };

export type CancelPayoutOutcome =
  | { ok: true; payout: Payout }
  | { ok: false; reason: "not_found" | "payout_not_cancellable" };

/** Sums used to prove conservation: wallets plus system accounts always total zero. */
export interface LedgerAudit {
  walletBalanceSum: number;
  /** Per system account (funding, payouts in flight, each rail), the sum of its entries. */
  systemAccounts: Record<string, number>;
  /** Wallets whose stored balance differs from the sum of their ledger entries. */
  mismatchedWallets: string[];
  entrySum: number;
}

/**
 * The ledger's reads answered synchronously, offered by a store that has them (the embedded
 * SQLite store): read-only calls then run inline, inside the batch's read snapshot.
 */
export interface LedgerReadsSync {
  getUser(userId: string): User | null;
  getWallet(walletId: string): Wallet | null;
  listWallets(userId: string): Wallet[];
  getPayment(paymentId: string): Payment | null;
  getPayout(payoutId: string): Payout | null;
}

export interface LedgerStore {
  /** Present when the store reads synchronously; the same records as the methods below. */
  readonly sync?: LedgerReadsSync;
  createUser(user: User): Promise<void>;
  getUser(userId: string): Promise<User | null>;
  /** Creates a wallet and credits it `funding` minor units from the funding system account. */
  createWallet(wallet: Omit<Wallet, "balance">, funding: number): Promise<Wallet>;
  getWallet(walletId: string): Promise<Wallet | null>;
  listWallets(userId: string): Promise<Wallet[]>;

  /**
   * Moves money wallet → wallet atomically; the source never goes negative. Idempotent by
   * paymentId: if that payment exists, it is returned and nothing moves.
   */
  transfer(req: TransferRequest): Promise<TransferOutcome>;
  getPayment(paymentId: string): Promise<Payment | null>;
  /** Moves a completed payment's amount back from the payee to the payer, once. */
  reversePayment(paymentId: string, now: number): Promise<ReverseOutcome>;

  /**
   * Debits the wallet into the payouts-in-flight account and records the payout as processing.
   * Idempotent by payoutId: if that payout exists, it is returned (in whatever state) and nothing moves.
   */
  beginPayout(req: PayoutRequest): Promise<BeginPayoutOutcome>;
  /** Ends a processing payout: completed/pending keep the money out, failed refunds the wallet. */
  settlePayout(payoutId: string, settlement: PayoutSettlement, now: number): Promise<Payout | null>;
  /** Cancels a pending payout and refunds the wallet. */
  cancelPayout(payoutId: string, now: number): Promise<CancelPayoutOutcome>;
  getPayout(payoutId: string): Promise<Payout | null>;

  audit(): Promise<LedgerAudit>;
}
