/**
 * @module
 * The metrics port: every counter, histogram and gauge the gateway exposes at GET /metrics, with
 * one set of names on every runtime (Node: prom-client; Workers: a small text registry in the
 * Durable Object). Call sites name a metric from METRICS; an implementation keeps one child per
 * label set, so recording is a map lookup and an add.
 */

export type MetricKind = "counter" | "histogram" | "gauge";

export interface MetricDef {
  kind: MetricKind;
  help: string;
  labels: readonly string[];
  /** Histogram bucket upper bounds (seconds for durations). */
  buckets?: readonly number[];
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export const METRICS = {
  batchgate_http_requests_total: { kind: "counter", help: "HTTP requests answered, by route and status.", labels: ["method", "route", "status"] },
  batchgate_calls_total: { kind: "counter", help: "Calls run (batched or single), by call name and outcome code (ok or the error code).", labels: ["call", "outcome"] },
  batchgate_call_duration_seconds: { kind: "histogram", help: "Time from a call's start to its result, by call name.", labels: ["call"], buckets: LATENCY_BUCKETS },
  batchgate_batch_size: { kind: "histogram", help: "Calls per batch request.", labels: [], buckets: [1, 2, 5, 10, 20, 30, 40, 50, 100, 250, 1000] },
  batchgate_calls_in_flight: { kind: "gauge", help: "Calls executing now (process-wide cap MAX_INFLIGHT_CALLS).", labels: [] },
  batchgate_calls_queued: { kind: "gauge", help: "Batches and single calls waiting for a place under the process-wide cap (each waits for one call at a time).", labels: [] },
  batchgate_rate_limit_rejections_total: { kind: "counter", help: "Requests or calls refused by a rate limit, by policy (client, token, ip).", labels: ["policy"] },
  batchgate_idempotency_total: { kind: "counter", help: "Idempotency outcomes that did not run the request: replay, in_use (409), reused (422).", labels: ["result"] },
  batchgate_store_errors_total: { kind: "counter", help: "Operations that failed because a store could not be reached (answered 503).", labels: [] },
  batchgate_manual_action_required_total: { kind: "counter", help: "Compensations (reversals) that failed and need an operator, by kind (payment_batch_reversal, atomic_call_compensation).", labels: ["kind"] },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
type NamesOf<K extends MetricKind> = { [N in MetricName]: (typeof METRICS)[N]["kind"] extends K ? N : never }[MetricName];
export type CounterName = NamesOf<"counter">;
export type HistogramName = NamesOf<"histogram">;
export type GaugeName = NamesOf<"gauge">;
export type Labels = Readonly<Record<string, string>>;

/** One counter series, bound to its labels once (hot paths keep it). */
export interface CounterChild {
  inc(by?: number): void;
}

/** One histogram series, bound to its labels once. */
export interface HistogramChild {
  observe(value: number): void;
}

export interface Metrics {
  inc(name: CounterName, labels?: Labels, by?: number): void;
  observe(name: HistogramName, labels: Labels, value: number): void;
  /** The series for these labels, to keep and record into without a lookup. */
  counter(name: CounterName, labels?: Labels): CounterChild;
  histogram(name: HistogramName, labels?: Labels): HistogramChild;
  /** A gauge read when scraped. */
  gaugeFrom(name: GaugeName, read: () => number): void;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
}
