/**
 * @module
 * The webhook store: endpoints API clients register, the outbox of messages owed to them (one per
 * endpoint and event), and every delivery attempt. Both stores implement it (SQL in
 * src/adapters/sqlite/sql-webhooks.ts, Redis in src/adapters/redis/redis-webhooks.ts) under the
 * store contract (test/stores). Secrets are stored encrypted (src/core/secret-box.ts); this port
 * never sees them in clear.
 */
import type { EventType } from "./events.js";

export type EndpointStatus = "enabled" | "disabled";

export interface WebhookEndpointRecord {
  endpointId: string;
  clientId: number;
  url: string;
  /** Event types it receives; null = every type (including types added later). */
  eventTypes: EventType[] | null;
  /** false: batch.item.* events are not delivered even when listed. */
  itemEvents: boolean;
  description: string | null;
  status: EndpointStatus;
  /** Why it was disabled (e.g. the receiver answered 410). */
  disabledReason: string | null;
  /** The signing secret, encrypted. */
  secretCipher: string;
  /** The secret before the last rotation, encrypted: it also signs until previousSecretExpiresAt. */
  previousSecretCipher: string | null;
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** pending: owed (due at dueAt); delivering: an attempt holds the lease until dueAt; then final. */
export type MessageStatus = "pending" | "delivering" | "delivered" | "failed";

export interface WebhookMessageRecord {
  messageId: string;
  endpointId: string;
  clientId: number;
  eventId: string;
  eventType: EventType;
  /** The exact JSON body sent on every attempt: `{type, timestamp, data}`. */
  body: string;
  status: MessageStatus;
  /** Attempts made so far (the next attempt is number attempts + 1). */
  attempts: number;
  /** attempts when the current retry schedule started (0, or the count at the last resend). */
  scheduleBase: number;
  /** pending: when the next attempt is due; delivering: when the lease lapses; null when final. */
  dueAt: number | null;
  /** The lease holder while delivering. */
  leaseOwner: string | null;
  createdAt: number;
  updatedAt: number;
}

export type AttemptOutcome = "delivered" | "retrying" | "failed" | "endpoint_disabled";

export interface WebhookAttemptRecord {
  attemptId: string;
  messageId: string;
  endpointId: string;
  eventId: string;
  eventType: EventType;
  /** 1, 2, 3... within the message. */
  attempt: number;
  /** Sent by hand (resend) rather than by the schedule. */
  manual: boolean;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: AttemptOutcome;
  nextAttemptAt: number | null;
}

/** What an attempt changes on its message (written only while the writer still holds the lease). */
export interface AttemptResult {
  attempt: WebhookAttemptRecord;
  status: "pending" | "delivered" | "failed";
  /** pending: when the next attempt is due. */
  dueAt: number | null;
  /** Also disable the endpoint (the receiver answered 410 Gone). */
  disableEndpoint?: { reason: string };
}

export interface EndpointSecrets {
  secretCipher: string;
  previousSecretCipher: string | null;
  previousSecretExpiresAt: number | null;
}

export interface AttemptPage {
  attempts: WebhookAttemptRecord[];
  hasMore: boolean;
}

export interface WebhookStore {
  createEndpoint(e: WebhookEndpointRecord): Promise<void>;
  getEndpoint(endpointId: string): Promise<WebhookEndpointRecord | null>;
  /** A client's endpoints, oldest first. */
  listEndpoints(clientId: number): Promise<WebhookEndpointRecord[]>;
  /** Replaces the endpoint's secrets (rotation); false if it is gone. */
  setSecrets(endpointId: string, secrets: EndpointSecrets, now: number): Promise<boolean>;
  /** Removes the endpoint; false if it did not exist. Its undelivered messages fail when next due. */
  deleteEndpoint(endpointId: string): Promise<boolean>;

  /** Stores each message unless one for the same (endpoint, event) exists; returns how many were new. */
  enqueue(messages: WebhookMessageRecord[]): Promise<number>;
  getMessage(messageId: string): Promise<WebhookMessageRecord | null>;
  /**
   * Atomically takes up to `limit` messages that are due (pending with dueAt <= now, or delivering
   * with a lapsed lease): each becomes delivering, held by `owner` until now + leaseMs. Two
   * callers never get the same message while its lease runs.
   */
  claimDue(now: number, limit: number, leaseMs: number, owner: string): Promise<WebhookMessageRecord[]>;
  /** Records the attempt and its message's new state, only if `owner` still holds the lease; false otherwise (nothing written). */
  recordAttempt(messageId: string, owner: string, result: AttemptResult, now: number): Promise<boolean>;
  /** Makes a message pending and due now with a fresh schedule (resend); false if it is being delivered or unknown. */
  resend(messageId: string, now: number): Promise<boolean>;
  /** The earliest dueAt of any pending or delivering message, or null. */
  nextDueAt(): Promise<number | null>;
  /** An endpoint's attempts, newest first; `startingAfter` is an attempt id of the previous page. */
  listAttempts(endpointId: string, opts: { limit: number; startingAfter?: string }): Promise<AttemptPage | null>;
}
