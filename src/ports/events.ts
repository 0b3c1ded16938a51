/**
 * @module
 * Events the gateway raises for its API clients (delivered as signed webhooks to the endpoints a
 * client registered). Producers (the asynchronous batch runner) emit; the webhook outbox stores each
 * event durably for every endpoint that wants it and delivers it in the background.
 */

export const EVENT_TYPES = ["batch.started", "batch.item.completed", "batch.item.failed", "batch.completed"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface GatewayEvent {
  /** Unique and deterministic for what happened (e.g. from batch, item and attempt), so emitting
   * the same event twice (a retry after a crash) delivers it once. Sent as `webhook-id`. */
  id: string;
  clientId: number;
  type: EventType;
  /** The event's payload (`data` in the delivered body); never carries secrets or tokens. */
  data: Record<string, unknown>;
  /** Epoch ms. */
  createdAt: number;
}

export interface EventSink {
  /** Durably records the event for delivery; idempotent by event id. */
  emit(event: GatewayEvent): Promise<void>;
}

/** A sink that keeps nothing: the default until a webhook outbox is wired in. */
export const discardEvents: EventSink = { emit: async () => undefined };
