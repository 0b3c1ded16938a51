/**
 * @module
 * The admin audit log: who did what to which target, when, under which request. Append-only.
 */
import type { Page, PageRequest } from "./paging.js";

export interface AuditRecord {
  auditId: string;
  /** "admin", or the key's fingerprint (`key:<first 12 hex of its hash>`). */
  actor: string;
  /** e.g. `client.create`, `token.revoke`, `wallet.fund`. */
  action: string;
  /** The id acted on (client id, user id, token id, wallet id). */
  target: string;
  requestId: string;
  /** What the action carried that is not a secret (names, scopes, amounts, reasons). */
  details: Record<string, unknown>;
  createdAt: number;
}

export interface AuditStore {
  append(record: AuditRecord): Promise<void>;
  /** Newest first. Throws UnknownCursorError for a cursor that names no record. */
  list(page: PageRequest): Promise<Page<AuditRecord>>;
}
