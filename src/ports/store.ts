/**
 * @module
 * The Store aggregate the composition roots build and pass around: every store port of one
 * backend (SQL over better-sqlite3 or Durable Object storage, or Redis), which pass the same
 * contract suite in test/stores. Each port lives in its own file.
 */
import type { AuditStore } from "./audit.js";
import type { BatchStore } from "./batches.js";
import type { ClientStore, TokenStore } from "./credentials.js";
import type { ClientAdminOps, TokenAdminOps } from "./credentials-admin.js";
import type { WalletAdminOps } from "./wallet-admin.js";
import type { IdempotencyStore } from "./idempotency.js";
import type { LedgerStore } from "./ledger.js";
import type { MetaStore } from "./meta.js";
import type { PaymentBatchStore } from "./payment-batches.js";
import type { TreasuryStore } from "./treasury.js";
import type { WebhookStore } from "./webhooks.js";

export interface Store {
  clients: ClientStore & ClientAdminOps;
  idempotency: IdempotencyStore;
  tokens: TokenStore & TokenAdminOps;
  ledger: LedgerStore & WalletAdminOps;
  meta: MetaStore;
  /** The atomic payment batches' journal. */
  paymentBatches: PaymentBatchStore;
  /** The operators' audit log. */
  audit: AuditStore;
  /**
   * Runs fn (synchronous) in one read transaction when the store has synchronous transactions
   * (SQLite), so its point reads share one snapshot and one lock; other stores just call fn.
   * fn must not write.
   */
  readSnapshot<T>(fn: () => T): T;
  /** Webhook endpoints, the outbox and delivery attempts. */
  webhooks: WebhookStore;
  /** Asynchronous batches (/v1/batches). */
  batches: BatchStore;
  /** Clients' treasury wallets, recipients' wallets opened on demand, users' default payout destinations. */
  treasury: TreasuryStore;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
