/**
 * @module
 * Idempotency records (DESIGN §1.5): the first completed response to a key is kept and replayed.
 * A key is claimed atomically before anything runs. A claim is a lease: it blocks the key until
 * `lockedUntil`, and its owner renews it while the work runs, so a crashed owner blocks the key
 * only until the lease lapses. Which record answers what is decided once, in core
 * (src/core/idempotency-rules.ts); a store keeps the records and applies that decision atomically.
 */

/** What is replayed: the status and the exact body bytes (as text). */
export interface StoredResponse {
  status: number;
  body: string;
}

export type ClaimResult =
  /** The caller owns the key now and must complete() or release() it, renewing it meanwhile. */
  | { kind: "claimed" }
  /** A request with this key already completed: replay it (if the fingerprint matches). */
  | { kind: "completed"; fingerprint: string; response: StoredResponse }
  /** Another request with this key is running and its lease has not lapsed. */
  | { kind: "in_flight"; fingerprint: string };

/** One claim: the key, the request that holds it, and the holder's claim token. */
export interface ClaimRef {
  /** Who the key belongs to, e.g. `client:100001` or `token:<hash>`; keys never cross scopes. */
  scope: string;
  key: string;
  /** Hash of what the request asked for; the same key with another fingerprint is a 422. */
  fingerprint: string;
  /** A random token naming this claim: a stale owner cannot renew or complete a claim retaken since. */
  owner: string;
}

export interface ClaimRequest extends ClaimRef {
  now: number;
  /** How long the claim blocks the key unless renewed (ms). */
  leaseMs: number;
  /** How long a record is kept (ms). */
  retentionMs: number;
}

/** A stored record, as the claim decision sees it. */
export interface IdempotencyRecord {
  state: "in_flight" | "completed";
  fingerprint: string;
  /** The claim token of the request that took the key ("" for records written before tokens). */
  owner: string;
  /** Set when completed. */
  response: StoredResponse | null;
  /** Until when an in-flight claim blocks the key (epoch ms). */
  lockedUntil: number;
  /** When the record is forgotten (epoch ms). */
  expiresAt: number;
}

export interface IdempotencyStore {
  claim(req: ClaimRequest): Promise<ClaimResult>;
  /** Extends the lease to now + leaseMs if `claim` still holds it in flight; false otherwise. */
  renew(claim: ClaimRef, now: number, leaseMs: number): Promise<boolean>;
  /** Stores the response if `claim` still holds the key in flight; kept until now + retentionMs. False otherwise. */
  complete(claim: ClaimRef, response: StoredResponse, now: number, retentionMs: number): Promise<boolean>;
  /** Drops `claim` if it still holds the key in flight (a request rejected before it executed), so a retry can run. */
  release(claim: ClaimRef): Promise<boolean>;
  /** Removes records past their retention; returns how many. */
  purgeExpired(now: number): Promise<number>;
}
