/**
 * @module
 * Webhooks: the endpoints API clients register, the outbox (the EventSink the batch runner emits
 * into) and the delivery pump.
 *
 * - emit() stores one message per enabled endpoint of the event's client that wants the event
 *   (its event types, and its item-events switch), idempotently by (endpoint, event id), then
 *   wakes the pump. Messages live in the store, so nothing owed is lost in a crash.
 * - The pump claims due messages under a lease (two instances never attempt the same message at
 *   once), POSTs each body signed per Standard Webhooks with a timeout and no redirects, reads at
 *   most a little of the answer, and records the attempt. A non-2xx answer, a timeout or a network
 *   error is retried on the schedule (WEBHOOK_RETRY_SCHEDULE, +0–20 % jitter, never sooner than a
 *   Retry-After asks, which is capped at a day); 410 Gone disables the endpoint; after the last
 *   retry the message is `failed`. A claim whose holder died lapses (2 × timeout + 2 s) and the
 *   message is attempted again.
 * - Web-standard only: fetch, Web Crypto; the resolver for the SSRF guard is a port.
 */
import type { EventSink, EventType, GatewayEvent } from "../ports/events.js";
import { EVENT_TYPES } from "../ports/events.js";
import type { HostResolver } from "../ports/resolver.js";
import type { Clock, Logger } from "../ports/runtime.js";
import type { AttemptPage, AttemptResult, WebhookEndpointRecord, WebhookMessageRecord, WebhookStore } from "../ports/webhooks.js";
import { GatewayError } from "./errors.js";
import { newId } from "./ids.js";
import { isoTime } from "./iso-time.js";
import type { SecretBox } from "./secret-box.js";
import { checkWebhookUrl } from "./url-guard.js";
import { newWebhookSecret, signWebhook } from "./webhook-signing.js";

export const ITEM_EVENTS: readonly EventType[] = ["batch.item.completed", "batch.item.failed"];
export const MAX_ENDPOINTS_PER_CLIENT = 20;
/** How much of a receiver's answer is read (and discarded). */
export const RESPONSE_READ_LIMIT = 64 * 1024;
/** The longest wait a Retry-After can ask for. */
export const RETRY_AFTER_CAP_MS = 86_400_000;
export const PUMP_NAME = "webhooks";

export interface WebhookOptions {
  timeoutMs: number;
  /** Delay before retry 1, 2, ... (ms). */
  retrySchedule: readonly number[];
  rotationGraceMs: number;
  concurrency: number;
  allowPrivateUrls: boolean;
}

export interface WebhookDeps {
  store: WebhookStore;
  clock: Clock;
  logger: Logger;
  fetch: typeof fetch;
  /** null where names cannot be resolved (Workers): only literal addresses and local names are checked. */
  resolver: HostResolver | null;
  /** null when no encryption key is configured: endpoints cannot be created (why: `secretsUnavailable`). */
  box: SecretBox | null;
  secretsUnavailable?: string;
  options: WebhookOptions;
  /** New messages were stored: run the pump soon. */
  wake: () => void;
  random?: () => number;
}

export interface NewEndpoint {
  url: string;
  events?: EventType[];
  itemEvents?: boolean;
  description?: string;
}

/** Whether an endpoint receives events of this type. */
export function wantsEvent(e: WebhookEndpointRecord, type: EventType): boolean {
  if (!e.itemEvents && ITEM_EVENTS.includes(type)) return false;
  return e.eventTypes === null || e.eventTypes.includes(type);
}

/** The delivered body: `{type, timestamp, data}`. */
export function messageBody(event: GatewayEvent): string {
  return JSON.stringify({ type: event.type, timestamp: isoTime(event.createdAt), data: event.data });
}

/** Retry-After as a delay in ms (seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export class WebhookService implements EventSink {
  private readonly random: () => number;

  constructor(private readonly deps: WebhookDeps) {
    this.random = deps.random ?? Math.random;
  }

  now(): number {
    return this.deps.clock.now();
  }

  get leaseMs(): number {
    return 2 * this.deps.options.timeoutMs + 2000;
  }

  // -- the sink ---------------------------------------------------------------------------------

  async emit(event: GatewayEvent): Promise<void> {
    const endpoints = (await this.deps.store.listEndpoints(event.clientId)).filter((e) => e.status === "enabled" && wantsEvent(e, event.type));
    if (endpoints.length === 0) return;
    const now = this.deps.clock.now();
    const body = messageBody(event);
    const added = await this.deps.store.enqueue(
      endpoints.map(
        (e): WebhookMessageRecord => ({
          messageId: newId("whd", now),
          endpointId: e.endpointId,
          clientId: event.clientId,
          eventId: event.id,
          eventType: event.type,
          body,
          status: "pending",
          attempts: 0,
          scheduleBase: 0,
          dueAt: now,
          leaseOwner: null,
          createdAt: now,
          updatedAt: now,
        }),
      ),
    );
    if (added > 0) this.deps.wake();
  }

  // -- endpoints --------------------------------------------------------------------------------

  private requireBox(): SecretBox {
    if (!this.deps.box) throw new GatewayError("service_unavailable", this.deps.secretsUnavailable ?? "Webhook secrets cannot be stored here: WEBHOOK_SECRET_KEY is not set.");
    return this.deps.box;
  }

  private async checkUrl(url: string) {
    const timeoutMs = this.deps.options.timeoutMs;
    const check = (await beforeAbort(
      checkWebhookUrl(url, { allowPrivate: this.deps.options.allowPrivateUrls, resolver: this.deps.resolver }),
      AbortSignal.timeout(timeoutMs),
    )) ?? { ok: false as const, reason: `its host did not resolve within ${timeoutMs} ms` };
    if (!check.ok) throw new GatewayError("webhook_url_not_allowed", `The webhook URL is not allowed: ${check.reason}.`, undefined, { field: "url" });
    return check.url;
  }

  async createEndpoint(clientId: number, input: NewEndpoint): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const box = this.requireBox();
    const url = await this.checkUrl(input.url);
    const eventTypes = input.events ? [...new Set(input.events)] : null;
    const itemEvents = input.itemEvents ?? true;
    if ((eventTypes ?? EVENT_TYPES).every((t) => !itemEvents && ITEM_EVENTS.includes(t))) {
      throw new GatewayError("invalid_body", "With item_events false these events select nothing: the endpoint would receive no event.", undefined, { field: "body.events" });
    }
    const existing = await this.deps.store.listEndpoints(clientId);
    if (existing.length >= MAX_ENDPOINTS_PER_CLIENT) {
      throw new GatewayError("webhook_endpoint_limit", `A client has at most ${MAX_ENDPOINTS_PER_CLIENT} webhook endpoints; delete one first.`);
    }
    const now = this.deps.clock.now();
    const endpointId = newId("whe", now);
    const secret = newWebhookSecret();
    const endpoint: WebhookEndpointRecord = {
      endpointId,
      clientId,
      url: url.href,
      eventTypes,
      itemEvents,
      description: input.description ?? null,
      status: "enabled",
      disabledReason: null,
      secretCipher: await box.seal(secret, endpointId),
      previousSecretCipher: null,
      previousSecretExpiresAt: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.store.createEndpoint(endpoint);
    return { endpoint, secret };
  }

  listEndpoints(clientId: number): Promise<WebhookEndpointRecord[]> {
    return this.deps.store.listEndpoints(clientId);
  }

  /** The client's endpoint, or not_found (someone else's endpoint is not_found too). */
  async getEndpoint(clientId: number, endpointId: string): Promise<WebhookEndpointRecord> {
    const e = await this.deps.store.getEndpoint(endpointId);
    if (!e || e.clientId !== clientId) throw new GatewayError("not_found", `No webhook endpoint ${endpointId}.`);
    return e;
  }

  async deleteEndpoint(clientId: number, endpointId: string): Promise<void> {
    await this.getEndpoint(clientId, endpointId);
    if (!(await this.deps.store.deleteEndpoint(endpointId))) throw new GatewayError("not_found", `No webhook endpoint ${endpointId}.`);
  }

  /** A new secret; the current one keeps signing beside it for `graceMs` (default WEBHOOK_ROTATION_GRACE_S). */
  async rotateSecret(clientId: number, endpointId: string, graceMs?: number): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const box = this.requireBox();
    const e = await this.getEndpoint(clientId, endpointId);
    const now = this.deps.clock.now();
    const grace = graceMs ?? this.deps.options.rotationGraceMs;
    const secret = newWebhookSecret();
    const secrets = {
      secretCipher: await box.seal(secret, endpointId),
      previousSecretCipher: grace > 0 ? e.secretCipher : null,
      previousSecretExpiresAt: grace > 0 ? now + grace : null,
    };
    if (!(await this.deps.store.setSecrets(endpointId, secrets, now))) throw new GatewayError("not_found", `No webhook endpoint ${endpointId}.`);
    return { endpoint: { ...e, ...secrets, updatedAt: now }, secret };
  }

  async listAttempts(clientId: number, endpointId: string, opts: { limit: number; startingAfter?: string }): Promise<AttemptPage> {
    await this.getEndpoint(clientId, endpointId);
    const page = await this.deps.store.listAttempts(endpointId, opts);
    if (!page) throw new GatewayError("invalid_body", "starting_after is not an attempt of this endpoint.", undefined, { field: "query.starting_after" });
    return page;
  }

  /** Sends a delivery again (same body, same webhook-id) as soon as the pump runs, with a fresh retry schedule. */
  async resend(clientId: number, endpointId: string, deliveryId: string): Promise<WebhookMessageRecord> {
    const e = await this.getEndpoint(clientId, endpointId);
    const m = await this.deps.store.getMessage(deliveryId);
    if (!m || m.endpointId !== endpointId) throw new GatewayError("not_found", `No delivery ${deliveryId} for this endpoint.`);
    if (e.status !== "enabled") throw new GatewayError("webhook_endpoint_disabled", `The webhook endpoint is disabled (${e.disabledReason ?? "disabled"}); nothing is sent to it.`);
    const now = this.deps.clock.now();
    if (!(await this.deps.store.resend(deliveryId, now))) throw new GatewayError("webhook_delivery_in_progress");
    this.deps.wake();
    return (await this.deps.store.getMessage(deliveryId)) ?? m;
  }

  // -- delivery ---------------------------------------------------------------------------------

  /** The background pump: delivers what is due; says when it wants to run again. */
  readonly pump = async (now: number): Promise<number | "now" | null> => {
    const limit = this.deps.options.concurrency;
    const owner = newId("lease", now);
    const claimed = await this.deps.store.claimDue(now, limit, this.leaseMs, owner);
    const endpoints = new Map<string, Promise<WebhookEndpointRecord | null>>();
    const endpointOf = (id: string) => {
      if (!endpoints.has(id)) endpoints.set(id, this.deps.store.getEndpoint(id));
      return endpoints.get(id)!;
    };
    await Promise.all(claimed.map((m) => this.deliver(m, owner, endpointOf)));
    if (claimed.length === limit) return "now";
    return this.deps.store.nextDueAt();
  };

  private async deliver(m: WebhookMessageRecord, owner: string, endpointOf: (id: string) => Promise<WebhookEndpointRecord | null>): Promise<void> {
    const { clock, logger, options } = this.deps;
    const attemptNo = m.attempts + 1;
    const startedAt = clock.now();
    const base = {
      attemptId: newId("wha", startedAt),
      messageId: m.messageId,
      endpointId: m.endpointId,
      eventId: m.eventId,
      eventType: m.eventType,
      attempt: attemptNo,
      manual: m.scheduleBase > 0 && m.attempts === m.scheduleBase,
      startedAt,
    };
    let result: AttemptResult;
    const endpoint = await endpointOf(m.endpointId);
    if (!endpoint || endpoint.status !== "enabled") {
      const error = endpoint ? `endpoint disabled (${endpoint.disabledReason ?? "disabled"}); not sent` : "endpoint deleted; not sent";
      result = { attempt: { ...base, durationMs: 0, statusCode: null, error, outcome: "failed", nextAttemptAt: null }, status: "failed", dueAt: null };
    } else {
      const sent = await this.send(endpoint, m, startedAt);
      const finished = clock.now();
      const durationMs = Math.max(0, finished - startedAt);
      if (sent.statusCode !== null && sent.statusCode >= 200 && sent.statusCode < 300) {
        result = { attempt: { ...base, durationMs, statusCode: sent.statusCode, error: null, outcome: "delivered", nextAttemptAt: null }, status: "delivered", dueAt: null };
      } else if (sent.statusCode === 410) {
        result = {
          attempt: { ...base, durationMs, statusCode: 410, error: "410 Gone: endpoint disabled", outcome: "endpoint_disabled", nextAttemptAt: null },
          status: "failed",
          dueAt: null,
          disableEndpoint: { reason: "the receiver answered 410 Gone" },
        };
      } else {
        const retryIndex = attemptNo - m.scheduleBase - 1;
        const delay = options.retrySchedule[retryIndex];
        if (delay === undefined) {
          result = { attempt: { ...base, durationMs, statusCode: sent.statusCode, error: sent.error, outcome: "failed", nextAttemptAt: null }, status: "failed", dueAt: null };
        } else {
          const jittered = Math.round(delay * (1 + 0.2 * this.random()));
          const wait = Math.max(jittered, Math.min(sent.retryAfterMs ?? 0, RETRY_AFTER_CAP_MS));
          const next = finished + wait;
          result = { attempt: { ...base, durationMs, statusCode: sent.statusCode, error: sent.error, outcome: "retrying", nextAttemptAt: next }, status: "pending", dueAt: next };
        }
      }
    }
    const recorded = await this.deps.store.recordAttempt(m.messageId, owner, result, clock.now());
    const fields = { endpoint_id: m.endpointId, delivery_id: m.messageId, event_id: m.eventId, attempt: attemptNo, status_code: result.attempt.statusCode, outcome: result.attempt.outcome };
    if (!recorded) logger.warn(fields, "webhook attempt not recorded: its lease had lapsed");
    else if (result.attempt.outcome === "delivered") logger.debug(fields, "webhook delivered");
    else logger.warn({ ...fields, error: result.attempt.error }, "webhook attempt failed");
  }

  /** One HTTP attempt. Never throws: a failure is a status code or an error text. */
  private async send(endpoint: WebhookEndpointRecord, m: WebhookMessageRecord, now: number): Promise<{ statusCode: number | null; error: string | null; retryAfterMs: number | null }> {
    const { options, box } = this.deps;
    // One deadline for the whole attempt (name resolution included), well inside the lease.
    const signal = AbortSignal.timeout(options.timeoutMs);
    const check = await beforeAbort(checkWebhookUrl(endpoint.url, { allowPrivate: options.allowPrivateUrls, resolver: this.deps.resolver }), signal);
    if (check === null) return { statusCode: null, error: `timeout after ${options.timeoutMs} ms (resolving the host)`, retryAfterMs: null };
    if (!check.ok) return { statusCode: null, error: `URL refused: ${check.reason}`, retryAfterMs: null };
    if (!box) return { statusCode: null, error: "the secret encryption key is not configured; cannot sign", retryAfterMs: null };
    let secrets: string[];
    try {
      secrets = [await box.open(endpoint.secretCipher, endpoint.endpointId)];
      if (endpoint.previousSecretCipher && endpoint.previousSecretExpiresAt !== null && endpoint.previousSecretExpiresAt > now) {
        secrets.push(await box.open(endpoint.previousSecretCipher, endpoint.endpointId));
      }
    } catch {
      return { statusCode: null, error: "the signing secret cannot be decrypted with the configured key", retryAfterMs: null };
    }
    const timestamp = Math.floor(now / 1000);
    const signed = await Promise.all(secrets.map((s) => signWebhook(s, m.eventId, timestamp, m.body)));
    const headers = {
      "content-type": "application/json",
      "user-agent": "Batchgate-Webhooks/1",
      "webhook-id": m.eventId,
      "webhook-timestamp": String(timestamp),
      // Standard Webhooks: several signatures, space-separated; during a rotation both secrets sign.
      "webhook-signature": signed.map((h) => h["webhook-signature"]).join(" "),
    };
    try {
      const res = await this.deps.fetch(check.url.href, { method: "POST", headers, body: m.body, redirect: "manual", signal });
      await drain(res, RESPONSE_READ_LIMIT);
      return {
        statusCode: res.status,
        error: res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`,
        retryAfterMs: parseRetryAfter(res.headers.get("retry-after"), this.deps.clock.now()),
      };
    } catch (e) {
      if (signal.aborted) return { statusCode: null, error: `timeout after ${options.timeoutMs} ms`, retryAfterMs: null };
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      return { statusCode: null, error: `request failed: ${cause ?? (e instanceof Error ? e.message : String(e))}`, retryAfterMs: null };
    }
  }
}

/** The promise's value, or null if the signal aborts first. */
function beforeAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Reads at most `limit` bytes of the body and drops the rest (the connection can then be reused or closed). */
async function drain(res: Response, limit: number): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  try {
    while (read < limit) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // A body cut short (timeout, reset) does not change the status already received.
  }
}
