/**
 * @module
 * The webhook store (src/ports/webhooks.ts) over the SQL driver: better-sqlite3 on Node, Durable
 * Object storage on Workers. Tables from migration 4. A claim and an attempt's record are each one
 * transaction; a message's `due_at` is when it is next due (pending) or when its lease lapses
 * (delivering), so one index finds both.
 */
import type { EventType } from "../../ports/events.js";
import type {
  AttemptPage,
  AttemptResult,
  EndpointSecrets,
  WebhookAttemptRecord,
  WebhookEndpointRecord,
  WebhookMessageRecord,
  WebhookStore,
} from "../../ports/webhooks.js";
import type { SqlDriver, SqlRow } from "./driver.js";

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function endpointFrom(r: SqlRow): WebhookEndpointRecord {
  return {
    endpointId: String(r.endpoint_id),
    clientId: num(r.client_id),
    url: String(r.url),
    eventTypes: r.event_types === null ? null : (JSON.parse(String(r.event_types)) as EventType[]),
    itemEvents: num(r.item_events) === 1,
    description: strOrNull(r.description),
    status: String(r.status) as WebhookEndpointRecord["status"],
    disabledReason: strOrNull(r.disabled_reason),
    secretCipher: String(r.secret_cipher),
    previousSecretCipher: strOrNull(r.previous_secret_cipher),
    previousSecretExpiresAt: numOrNull(r.previous_secret_expires_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function messageFrom(r: SqlRow): WebhookMessageRecord {
  return {
    messageId: String(r.message_id),
    endpointId: String(r.endpoint_id),
    clientId: num(r.client_id),
    eventId: String(r.event_id),
    eventType: String(r.event_type) as EventType,
    body: String(r.body),
    status: String(r.status) as WebhookMessageRecord["status"],
    attempts: num(r.attempts),
    scheduleBase: num(r.schedule_base),
    dueAt: numOrNull(r.due_at),
    leaseOwner: strOrNull(r.lease_owner),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function attemptFrom(r: SqlRow): WebhookAttemptRecord {
  return {
    attemptId: String(r.attempt_id),
    messageId: String(r.message_id),
    endpointId: String(r.endpoint_id),
    eventId: String(r.event_id),
    eventType: String(r.event_type) as EventType,
    attempt: num(r.attempt),
    manual: num(r.manual) === 1,
    startedAt: num(r.started_at),
    durationMs: num(r.duration_ms),
    statusCode: numOrNull(r.status_code),
    error: strOrNull(r.error),
    outcome: String(r.outcome) as WebhookAttemptRecord["outcome"],
    nextAttemptAt: numOrNull(r.next_attempt_at),
  };
}

export class SqlWebhookStore implements WebhookStore {
  constructor(private readonly db: SqlDriver) {}

  async createEndpoint(e: WebhookEndpointRecord): Promise<void> {
    this.db.run(
      `INSERT INTO webhook_endpoints (endpoint_id, client_id, url, event_types, item_events, description, status, disabled_reason,
         secret_cipher, previous_secret_cipher, previous_secret_expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        e.endpointId, e.clientId, e.url, e.eventTypes === null ? null : JSON.stringify(e.eventTypes), e.itemEvents ? 1 : 0,
        e.description, e.status, e.disabledReason, e.secretCipher, e.previousSecretCipher, e.previousSecretExpiresAt, e.createdAt, e.updatedAt,
      ],
    );
  }

  async getEndpoint(endpointId: string): Promise<WebhookEndpointRecord | null> {
    const r = this.db.get("SELECT * FROM webhook_endpoints WHERE endpoint_id = ?", [endpointId]);
    return r ? endpointFrom(r) : null;
  }

  async listEndpoints(clientId: number): Promise<WebhookEndpointRecord[]> {
    return this.db.all("SELECT * FROM webhook_endpoints WHERE client_id = ? ORDER BY created_at, endpoint_id", [clientId]).map(endpointFrom);
  }

  async setSecrets(endpointId: string, x: EndpointSecrets, now: number): Promise<boolean> {
    return (
      this.db.run(
        "UPDATE webhook_endpoints SET secret_cipher = ?, previous_secret_cipher = ?, previous_secret_expires_at = ?, updated_at = ? WHERE endpoint_id = ?",
        [x.secretCipher, x.previousSecretCipher, x.previousSecretExpiresAt, now, endpointId],
      ) === 1
    );
  }

  async deleteEndpoint(endpointId: string): Promise<boolean> {
    return this.db.run("DELETE FROM webhook_endpoints WHERE endpoint_id = ?", [endpointId]) === 1;
  }

  async enqueue(messages: WebhookMessageRecord[]): Promise<number> {
    if (messages.length === 0) return 0;
    return this.db.transaction(() => {
      let added = 0;
      for (const m of messages) {
        added += this.db.run(
          `INSERT INTO webhook_messages (message_id, endpoint_id, client_id, event_id, event_type, body, status, attempts, schedule_base,
             due_at, lease_owner, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
          [m.messageId, m.endpointId, m.clientId, m.eventId, m.eventType, m.body, m.status, m.attempts, m.scheduleBase, m.dueAt, m.leaseOwner, m.createdAt, m.updatedAt],
        );
      }
      return added;
    });
  }

  async getMessage(messageId: string): Promise<WebhookMessageRecord | null> {
    const r = this.db.get("SELECT * FROM webhook_messages WHERE message_id = ?", [messageId]);
    return r ? messageFrom(r) : null;
  }

  async claimDue(now: number, limit: number, leaseMs: number, owner: string): Promise<WebhookMessageRecord[]> {
    return this.db.transaction(() => {
      const rows = this.db.all(
        "SELECT * FROM webhook_messages WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, message_id LIMIT ?",
        [now, limit],
      );
      const out: WebhookMessageRecord[] = [];
      for (const r of rows) {
        this.db.run("UPDATE webhook_messages SET status = 'delivering', due_at = ?, lease_owner = ?, updated_at = ? WHERE message_id = ?", [
          now + leaseMs, owner, now, r.message_id,
        ]);
        out.push({ ...messageFrom(r), status: "delivering", dueAt: now + leaseMs, leaseOwner: owner, updatedAt: now });
      }
      return out;
    });
  }

  async recordAttempt(messageId: string, owner: string, result: AttemptResult, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      const a = result.attempt;
      const changed = this.db.run(
        `UPDATE webhook_messages SET status = ?, attempts = ?, due_at = ?, lease_owner = NULL, updated_at = ?
         WHERE message_id = ? AND status = 'delivering' AND lease_owner = ?`,
        [result.status, a.attempt, result.status === "pending" ? result.dueAt : null, now, messageId, owner],
      );
      if (changed !== 1) return false;
      this.db.run(
        `INSERT INTO webhook_attempts (attempt_id, message_id, endpoint_id, event_id, event_type, attempt, manual, started_at, duration_ms,
           status_code, error, outcome, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [a.attemptId, a.messageId, a.endpointId, a.eventId, a.eventType, a.attempt, a.manual ? 1 : 0, a.startedAt, a.durationMs, a.statusCode, a.error, a.outcome, a.nextAttemptAt],
      );
      if (result.disableEndpoint) {
        this.db.run("UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = ?, updated_at = ? WHERE endpoint_id = ?", [
          result.disableEndpoint.reason, now, a.endpointId,
        ]);
      }
      return true;
    });
  }

  async resend(messageId: string, now: number): Promise<boolean> {
    return (
      this.db.run(
        `UPDATE webhook_messages SET status = 'pending', due_at = ?, schedule_base = attempts, lease_owner = NULL, updated_at = ?
         WHERE message_id = ? AND NOT (status = 'delivering' AND due_at > ?)`,
        [now, now, messageId, now],
      ) === 1
    );
  }

  async nextDueAt(): Promise<number | null> {
    return numOrNull(this.db.get<{ d: number | null }>("SELECT MIN(due_at) AS d FROM webhook_messages WHERE due_at IS NOT NULL")?.d);
  }

  async listAttempts(endpointId: string, opts: { limit: number; startingAfter?: string }): Promise<AttemptPage | null> {
    let before = Number.MAX_SAFE_INTEGER;
    if (opts.startingAfter !== undefined) {
      const r = this.db.get<{ seq: number }>("SELECT seq FROM webhook_attempts WHERE attempt_id = ? AND endpoint_id = ?", [opts.startingAfter, endpointId]);
      if (!r) return null;
      before = Number(r.seq);
    }
    const rows = this.db.all("SELECT * FROM webhook_attempts WHERE endpoint_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?", [endpointId, before, opts.limit + 1]);
    return { attempts: rows.slice(0, opts.limit).map(attemptFrom), hasMore: rows.length > opts.limit };
  }
}
