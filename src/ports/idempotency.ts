/**
 * @module
 * Idempotency records (DESIGN §1.5): the first completed response to a key is kept and replayed.
 * A key is claimed atomically before anything runs; the claim carries an in-flight expiry so a
 * crashed owner cannot block its key forever.
 */

/** What is replayed: the status and the exact body bytes (as text). */
export interface StoredResponse {
  status: number;
  body: string;
}

export type ClaimResult =
  /** The caller owns the key now and must complete() or release() it. */
  | { kind: "claimed" }
  /** A request with this key already completed: replay it (if the fingerprint matches). */
  | { kind: "completed"; fingerprint: string; response: StoredResponse }
  /** Another request with this key is running and its claim has not expired. */
  | { kind: "in_flight"; fingerprint: string };

export interface ClaimRequest {
  /** Who the key belongs to, e.g. `client:100001` or `token:<hash>`; keys never cross scopes. */
  scope: string;
  key: string;
  /** Hash of what the request asked for; the same key with another fingerprint is a 422. */
  fingerprint: string;
  now: number;
  /** How long an unfinished claim blocks the key (ms). */
  inFlightMs: number;
  /** How long a record is kept (ms). */
  retentionMs: number;
}

export interface IdempotencyStore {
  claim(req: ClaimRequest): Promise<ClaimResult>;
  /** Stores the response for a key this caller claimed; kept until now + retentionMs. */
  complete(scope: string, key: string, fingerprint: string, response: StoredResponse, now: number, retentionMs: number): Promise<void>;
  /** Drops a claim whose request was rejected before it executed, so a retry can run. */
  release(scope: string, key: string, fingerprint: string): Promise<void>;
  /** Removes records past their retention; returns how many. */
  purgeExpired(now: number): Promise<number>;
}
