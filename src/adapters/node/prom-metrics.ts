/**
 * @module
 * The metrics port on Node: prom-client, one registry per gateway (not the global one, so tests
 * and several gateways in one process never share counters), plus the process's default metrics.
 * Children are cached per label set, so recording a call costs a map lookup.
 */
import client from "prom-client";
import { type CounterChild, type CounterName, type HistogramChild, type GaugeName, type HistogramName, type Labels, METRICS, type MetricName, type Metrics } from "../../ports/metrics.js";

type Child = { inc(n?: number): void } | { observe(v: number): void };

export function promMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new client.Registry();
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry });
  const reads = new Map<GaugeName, () => number>();
  const metrics = new Map<MetricName, client.Counter | client.Histogram | client.Gauge>();
  for (const name of Object.keys(METRICS) as MetricName[]) {
    const def = METRICS[name];
    const labelNames = [...def.labels];
    if (def.kind === "counter") metrics.set(name, new client.Counter({ name, help: def.help, labelNames, registers: [registry] }));
    else if (def.kind === "histogram") metrics.set(name, new client.Histogram({ name, help: def.help, labelNames, buckets: [...def.buckets], registers: [registry] }));
    else {
      metrics.set(
        name,
        new client.Gauge({
          name,
          help: def.help,
          labelNames,
          registers: [registry],
          collect() {
            this.set(reads.get(name as GaugeName)?.() ?? 0);
          },
        }),
      );
    }
  }
  const children = new Map<string, Child>();
  const child = (name: MetricName, labels: Labels | undefined): Child => {
    let key = name;
    if (labels) for (const k in labels) key += `\u0000${labels[k]}`;
    let c = children.get(key);
    if (!c) {
      const m = metrics.get(name)! as client.Counter & client.Histogram;
      c = labels && Object.keys(labels).length ? m.labels(labels) : m;
      children.set(key, c);
    }
    return c;
  };
  return {
    contentType: registry.contentType,
    inc(name: CounterName, labels?: Labels, by = 1) {
      (child(name, labels) as { inc(n?: number): void }).inc(by);
    },
    observe(name: HistogramName, labels: Labels, value: number) {
      (child(name, labels) as { observe(v: number): void }).observe(value);
    },
    counter: (name: CounterName, labels?: Labels) => child(name, labels) as CounterChild,
    histogram: (name: HistogramName, labels?: Labels) => child(name, labels) as HistogramChild,
    gaugeFrom(name: GaugeName, read: () => number) {
      reads.set(name, read);
    },
    render: () => registry.metrics(),
  };
}
