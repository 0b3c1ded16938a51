/**
 * @module
 * What the webhook-endpoint routes share: request and response schemas, the views that turn
 * store records into answers (never a secret except the one just created), v1 error responses.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { describeZodError } from "../../../src/core/engine.js";
import { ERROR_CATALOG, GatewayError } from "../../../src/core/errors.js";
import { wantsEvent } from "../../../src/core/webhooks.js";
import { readJsonObject } from "../../../src/http/body.js";
import type { AppEnv } from "../../../src/http/env.js";
import { EVENT_TYPES } from "../../../src/ports/events.js";
import type { WebhookAttemptRecord, WebhookEndpointRecord, WebhookMessageRecord } from "../../../src/ports/webhooks.js";
import { V1Error } from "../../schemas.js";

export const EventTypeSchema = z.enum(EVENT_TYPES).openapi("WebhookEventType");

export const CreateEndpointBody = z.strictObject({
  url: z.string().min(1).max(2048).describe("Where events are POSTed: https, reaching a public address (http and private addresses only with WEBHOOK_ALLOW_PRIVATE_URLS=true)"),
  events: z.array(EventTypeSchema).min(1).max(EVENT_TYPES.length * 2).optional().describe("The event types it receives; default: all (including types added later)"),
  item_events: z.boolean().optional().describe("false: batch.item.* events are not delivered to it (default true)"),
  description: z.string().min(1).max(255).optional(),
});

export const RotateSecretBody = z.strictObject({
  grace_period_seconds: z.number().int().min(0).max(7 * 86_400).optional().describe("How long the current secret keeps signing beside the new one (default WEBHOOK_ROTATION_GRACE_S, 24 h)"),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const WebhookEndpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(EventTypeSchema).describe("The event types it receives (with item_events false, batch.item.* are left out)"),
    all_events: z.boolean().describe("true when it was created without a list: it also gets event types added later"),
    item_events: z.boolean(),
    description: z.string().nullable(),
    status: z.enum(["enabled", "disabled"]),
    disabled_reason: z.string().nullable(),
    previous_secret_expires_at: z.string().nullable().describe("During a rotation: until when the previous secret also signs"),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("WebhookEndpoint");

export const WebhookEndpointWithSecret = WebhookEndpoint.extend({
  secret: z.string().describe("The whsec_ signing secret. Shown only in this answer: store it now."),
}).openapi("WebhookEndpointWithSecret");

export const WebhookAttempt = z
  .object({
    id: z.string(),
    delivery_id: z.string().describe("The message this attempt delivered (resend it with .../deliveries/{delivery_id}/resend)"),
    event_id: z.string().describe("Sent as webhook-id"),
    event_type: EventTypeSchema,
    attempt: z.number().int(),
    manual: z.boolean().describe("The first attempt after a resend by hand"),
    attempted_at: z.string(),
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable().describe("The receiver's HTTP status; null when there was none"),
    error: z.string().nullable().describe("Why it failed: HTTP status, timeout, network error, refused URL"),
    outcome: z.enum(["delivered", "retrying", "failed", "endpoint_disabled"]),
    next_retry_at: z.string().nullable(),
  })
  .openapi("WebhookAttempt");

export const WebhookDelivery = z
  .object({
    id: z.string(),
    event_id: z.string(),
    event_type: EventTypeSchema,
    status: z.enum(["pending", "delivering", "delivered", "failed"]),
    attempts: z.number().int(),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("WebhookDelivery");

export function endpointView(e: WebhookEndpointRecord, now: number): z.infer<typeof WebhookEndpoint> {
  return {
    id: e.endpointId,
    url: e.url,
    events: EVENT_TYPES.filter((t) => wantsEvent(e, t)),
    all_events: e.eventTypes === null,
    item_events: e.itemEvents,
    description: e.description,
    status: e.status,
    disabled_reason: e.disabledReason,
    previous_secret_expires_at: e.previousSecretExpiresAt !== null && e.previousSecretExpiresAt > now ? iso(e.previousSecretExpiresAt) : null,
    created_at: iso(e.createdAt)!,
    updated_at: iso(e.updatedAt)!,
  };
}

export function attemptView(a: WebhookAttemptRecord): z.infer<typeof WebhookAttempt> {
  return {
    id: a.attemptId,
    delivery_id: a.messageId,
    event_id: a.eventId,
    event_type: a.eventType,
    attempt: a.attempt,
    manual: a.manual,
    attempted_at: iso(a.startedAt)!,
    duration_ms: a.durationMs,
    status_code: a.statusCode,
    error: a.error,
    outcome: a.outcome,
    next_retry_at: iso(a.nextAttemptAt),
  };
}

export function deliveryView(m: WebhookMessageRecord): z.infer<typeof WebhookDelivery> {
  return {
    id: m.messageId,
    event_id: m.eventId,
    event_type: m.eventType,
    status: m.status,
    attempts: m.attempts,
    next_attempt_at: m.status === "pending" ? iso(m.dueAt) : null,
    created_at: iso(m.createdAt)!,
  };
}

/** v1 error responses for a route, by status. */
export function v1Errors(statuses: number[]) {
  const out: Record<number, { description: string; content: { "application/json": { schema: typeof V1Error } } }> = {};
  for (const status of statuses) {
    const codes = Object.entries(ERROR_CATALOG).filter(([, e]) => e.status === status).map(([c]) => `\`${c}\``);
    out[status] = { description: codes.join(", ") || "Error", content: { "application/json": { schema: V1Error } } };
  }
  return out;
}

export const basicSecurity: Record<string, string[]>[] = [{ basicAuth: [] }];

export const EndpointIdParam = z.object({
  id: z.string().min(1).max(64).openapi({ param: { name: "id", in: "path" }, description: "The endpoint's id (whe_…)" }),
});

/** A JSON body checked against a strict schema: invalid_body naming the field. */
export async function readBody<T extends z.ZodType>(c: Context<AppEnv>, schema: T, opts: { allowEmpty: boolean }): Promise<z.output<T>> {
  const body = await readJsonObject(c, opts);
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError("invalid_body", describeZodError(parsed.error, "body"), undefined, { field: ["body", ...(issue?.path ?? []).map(String)].join(".") });
  }
  return parsed.data;
}
