/**
 * @module
 * A Web-standard metrics registry that renders the Prometheus text format (version 0.0.4): the
 * Workers implementation of the metrics port (counted in the Durable Object's memory), and the
 * reference the Node prom-client implementation is tested against (same names, same text shape).
 */
import { type CounterChild, type CounterName, type HistogramChild, type GaugeName, type HistogramName, type Labels, METRICS, type MetricName, type Metrics } from "../ports/metrics.js";

interface Series {
  labels: Labels;
  value: number;
  /** Histograms: cumulative-free bucket counts (one per bound, plus +Inf) and the sum. */
  buckets?: number[];
  sum?: number;
}

function seriesKey(labels: Labels | undefined): string {
  if (!labels) return "";
  let k = "";
  for (const name in labels) k += `${name}\u0000${labels[name]}\u0001`;
  return k;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `le` goes first, as prom-client writes it, so both runtimes print the same lines. */
function labelText(labels: Labels, le?: string): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (le !== undefined) parts.unshift(`le="${le}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(n: number): string {
  if (n === Infinity) return "+Inf";
  return String(n);
}

export class TextMetrics implements Metrics {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  private readonly series = new Map<MetricName, Map<string, Series>>();
  private readonly gauges = new Map<GaugeName, () => number>();

  private get(name: MetricName, labels: Labels | undefined): Series {
    let byKey = this.series.get(name);
    if (!byKey) this.series.set(name, (byKey = new Map()));
    const key = seriesKey(labels);
    let s = byKey.get(key);
    if (!s) {
      const def = METRICS[name];
      s = { labels: labels ?? {}, value: 0 };
      if (def.kind === "histogram") {
        s.buckets = new Array(("buckets" in def ? def.buckets.length : 0) + 1).fill(0);
        s.sum = 0;
      }
      byKey.set(key, s);
    }
    return s;
  }

  inc(name: CounterName, labels?: Labels, by = 1): void {
    this.get(name, labels).value += by;
  }

  observe(name: HistogramName, labels: Labels, value: number): void {
    this.histogram(name, labels).observe(value);
  }

  counter(name: CounterName, labels?: Labels): CounterChild {
    const s = this.get(name, labels);
    return {
      inc: (by = 1) => {
        s.value += by;
      },
    };
  }

  histogram(name: HistogramName, labels?: Labels): HistogramChild {
    const s = this.get(name, labels);
    const bounds = METRICS[name].buckets;
    return {
      observe: (value: number) => {
        let i = 0;
        while (i < bounds.length && value > bounds[i]) i++;
        s.buckets![i]++;
        s.sum! += value;
        s.value++;
      },
    };
  }

  gaugeFrom(name: GaugeName, read: () => number): void {
    this.gauges.set(name, read);
  }

  async render(): Promise<string> {
    const lines: string[] = [];
    for (const name of Object.keys(METRICS) as MetricName[]) {
      const def = METRICS[name];
      lines.push(`# HELP ${name} ${def.help}`, `# TYPE ${name} ${def.kind}`);
      if (def.kind === "gauge") {
        const read = this.gauges.get(name as GaugeName);
        lines.push(`${name} ${num(read ? read() : 0)}`);
        continue;
      }
      const all = this.series.get(name);
      if (!all) {
        if (def.labels.length === 0) {
          if (def.kind === "counter") lines.push(`${name} 0`);
          else {
            for (const b of def.buckets) lines.push(`${name}_bucket{le="${num(b)}"} 0`);
            lines.push(`${name}_bucket{le="+Inf"} 0`, `${name}_sum 0`, `${name}_count 0`);
          }
        }
        continue;
      }
      for (const s of all.values()) {
        if (def.kind === "counter") {
          lines.push(`${name}${labelText(s.labels)} ${num(s.value)}`);
          continue;
        }
        let cumulative = 0;
        def.buckets.forEach((b, i) => {
          cumulative += s.buckets![i];
          lines.push(`${name}_bucket${labelText(s.labels, num(b))} ${cumulative}`);
        });
        lines.push(`${name}_bucket${labelText(s.labels, "+Inf")} ${s.value}`);
        lines.push(`${name}_sum${labelText(s.labels)} ${num(s.sum!)}`, `${name}_count${labelText(s.labels)} ${s.value}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }
}
