/**
 * @module
 * The idempotency claim rules, written once for every store: what a claim on a key answers given
 * the record stored for it, and whether a claim still holds its key. Stores apply these
 * atomically (SQL: in one transaction; Redis: decided here, written by a compare-and-set script).
 */
import type { ClaimRef, IdempotencyRecord, StoredResponse } from "../ports/idempotency.js";

export type ClaimDecision =
  /** Replay this response (or 422 when the fingerprint differs). */
  | { kind: "completed"; fingerprint: string; response: StoredResponse }
  /** A live lease holds the key: 409 (or 422 when the fingerprint differs). */
  | { kind: "in_flight"; fingerprint: string }
  /** Absent, past retention, or a lease its owner stopped renewing: the caller takes the key. */
  | { kind: "take" };

export function decideClaim(record: IdempotencyRecord | null, now: number): ClaimDecision {
  if (!record || record.expiresAt <= now) return { kind: "take" };
  if (record.state === "completed" && record.response) return { kind: "completed", fingerprint: record.fingerprint, response: record.response };
  if (record.state === "in_flight" && record.lockedUntil > now) return { kind: "in_flight", fingerprint: record.fingerprint };
  return { kind: "take" };
}

/** True while `claim` is the in-flight claim on its key: only then may it renew, complete or release it. */
export function holdsClaim(record: IdempotencyRecord | null, claim: ClaimRef): boolean {
  return record !== null && record.state === "in_flight" && record.fingerprint === claim.fingerprint && record.owner === claim.owner;
}

/** The record a claim that takes the key writes. */
export function claimedRecord(claim: ClaimRef, now: number, leaseMs: number, retentionMs: number): IdempotencyRecord {
  return { state: "in_flight", fingerprint: claim.fingerprint, owner: claim.owner, response: null, lockedUntil: now + leaseMs, expiresAt: now + retentionMs };
}
