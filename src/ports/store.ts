/**
 * @module
 * The Store aggregate the composition roots build and pass around: every store port of one
 * backend (SQL over better-sqlite3 or Durable Object storage, or Redis), which pass the same
 * contract suite in test/stores. Each port lives in its own file.
 */
import type { BatchStore } from "./batches.js";
import type { ClientStore, TokenStore } from "./credentials.js";
import type { IdempotencyStore } from "./idempotency.js";
import type { LedgerStore } from "./ledger.js";
import type { MetaStore } from "./meta.js";

export interface Store {
  clients: ClientStore;
  idempotency: IdempotencyStore;
  tokens: TokenStore;
  ledger: LedgerStore;
  meta: MetaStore;
  /** Asynchronous batches (/v1/batches). */
  batches: BatchStore;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
