/**
 * @module
 * What the engine reports about each call, turned into metrics: calls by name and outcome, call
 * latency by name, and what a call's result says about the per-token limit, per-call idempotency
 * keys and the stores. Label values are bounded: a call name that is not registered is "unknown",
 * an outcome is "ok" or a catalog code. Each (call, outcome) pair's series are bound once and
 * kept, so recording a call is two map lookups and two adds.
 */
import type { CounterChild, HistogramChild, Metrics } from "../ports/metrics.js";
import type { HandlerLookup } from "./call-contract.js";
import type { CallObserver, CallResult } from "./engine.js";
import { ERROR_CATALOG } from "./errors.js";

const UNKNOWN_CALL = "unknown";

interface CallSeries {
  /** The label value: the registered name, or "unknown". */
  name: string;
  duration: HistogramChild;
  byOutcome: Map<string, CounterChild>;
}

function outcomeOf(result: CallResult): string {
  if (result.status < 400) return "ok";
  const code = (result.response as { error?: unknown } | null)?.error;
  return typeof code === "string" && Object.hasOwn(ERROR_CATALOG, code) ? code : "other";
}

export function callMetrics(metrics: Metrics, handlers: HandlerLookup): CallObserver {
  const series = new Map<string, CallSeries>();
  const replay = metrics.counter("batchgate_idempotency_total", { result: "replay" });
  const inUse = metrics.counter("batchgate_idempotency_total", { result: "in_use" });
  const reused = metrics.counter("batchgate_idempotency_total", { result: "reused" });
  const throttled = metrics.counter("batchgate_rate_limit_rejections_total", { policy: "token" });
  const storeErrors = metrics.counter("batchgate_store_errors_total");

  // Keyed by the label value ("unknown" for every unregistered name), so callers cannot grow it.
  const seriesOf = (call: string): CallSeries => {
    const name = series.has(call) || handlers.get(call) ? call : UNKNOWN_CALL;
    let s = series.get(name);
    if (!s) {
      s = { name, duration: metrics.histogram("batchgate_call_duration_seconds", { call: name }), byOutcome: new Map() };
      series.set(name, s);
    }
    return s;
  };

  return {
    callFinished(result, durationMs) {
      if (result.replayed) {
        replay.inc();
        return;
      }
      const s = seriesOf(result.call);
      const outcome = outcomeOf(result);
      let counter = s.byOutcome.get(outcome);
      if (!counter) {
        counter = metrics.counter("batchgate_calls_total", { call: s.name, outcome });
        s.byOutcome.set(outcome, counter);
      }
      counter.inc();
      if (durationMs !== undefined) s.duration.observe(durationMs / 1000);
      if (outcome === "throttle_exceeded") throttled.inc();
      else if (outcome === "idempotency_key_in_use") inUse.inc();
      else if (outcome === "idempotency_key_reused") reused.inc();
      else if (outcome === "service_unavailable") storeErrors.inc();
    },
  };
}
