import { describe, expect, it } from "vitest";
import { promMetrics } from "../../src/adapters/node/prom-metrics.js";
import { TextMetrics } from "../../src/core/metrics-registry.js";
import { METRICS, type Metrics } from "../../src/ports/metrics.js";
import { parseExposition } from "../helpers/prometheus.js";

/** The value of one sample line `name{labels} value` in a Prometheus text exposition. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    if (line.slice(0, i) === series) return Number(line.slice(i + 1));
  }
  return undefined;
}

describe.each([
  ["prom-client (Node)", () => promMetrics({ defaultMetrics: false })],
  ["text registry (Workers)", () => new TextMetrics()],
])("metrics port: %s", (_name, make: () => Metrics) => {
  it("declares every metric with HELP and TYPE, and counts by label set", async () => {
    const m = make();
    m.inc("batchgate_calls_total", { call: "/wallet/find", outcome: "ok" });
    m.inc("batchgate_calls_total", { call: "/wallet/find", outcome: "ok" }, 2);
    m.inc("batchgate_calls_total", { call: "/wallet/find", outcome: "not_found" });
    m.inc("batchgate_store_errors_total");
    const text = await m.render();
    for (const [name, def] of Object.entries(METRICS)) {
      expect(text).toContain(`# TYPE ${name} ${def.kind}`);
    }
    expect(sample(text, 'batchgate_calls_total{call="/wallet/find",outcome="ok"}')).toBe(3);
    expect(sample(text, 'batchgate_calls_total{call="/wallet/find",outcome="not_found"}')).toBe(1);
    expect(sample(text, "batchgate_store_errors_total")).toBe(1);
  });

  it("renders histograms with cumulative buckets, sum and count", async () => {
    const m = make();
    m.observe("batchgate_batch_size", {}, 3);
    m.observe("batchgate_batch_size", {}, 50);
    m.observe("batchgate_call_duration_seconds", { call: "/user" }, 0.002);
    const text = await m.render();
    expect(sample(text, 'batchgate_batch_size_bucket{le="5"}')).toBe(1);
    expect(sample(text, 'batchgate_batch_size_bucket{le="50"}')).toBe(2);
    expect(sample(text, 'batchgate_batch_size_bucket{le="+Inf"}')).toBe(2);
    expect(sample(text, "batchgate_batch_size_sum")).toBe(53);
    expect(sample(text, "batchgate_batch_size_count")).toBe(2);
    expect(sample(text, 'batchgate_call_duration_seconds_bucket{le="0.001",call="/user"}')).toBe(0);
    expect(sample(text, 'batchgate_call_duration_seconds_bucket{le="0.0025",call="/user"}')).toBe(1);
  });

  it("reads gauges when scraped", async () => {
    const m = make();
    let inflight = 7;
    m.gaugeFrom("batchgate_calls_in_flight", () => inflight);
    expect(sample(await m.render(), "batchgate_calls_in_flight")).toBe(7);
    inflight = 2;
    expect(sample(await m.render(), "batchgate_calls_in_flight")).toBe(2);
  });

  it("escapes label values", async () => {
    const m = make();
    m.inc("batchgate_calls_total", { call: 'a"b\\c', outcome: "ok" });
    expect(sample(await m.render(), 'batchgate_calls_total{call="a\\"b\\\\c",outcome="ok"}')).toBe(1);
  });
});

describe("metrics port: both runtimes", () => {
  it("print the same samples for the same records, bound children included", async () => {
    const record = (m: Metrics) => {
      const ok = m.counter("batchgate_calls_total", { call: "/user", outcome: "ok" });
      ok.inc();
      ok.inc(2);
      const d = m.histogram("batchgate_call_duration_seconds", { call: "/user" });
      for (const v of [0.0001, 0.003, 0.003, 7, 100]) d.observe(v);
      m.inc("batchgate_rate_limit_rejections_total", { policy: "ip" });
      m.observe("batchgate_batch_size", {}, 50);
      m.gaugeFrom("batchgate_calls_queued", () => 4);
    };
    const node = promMetrics({ defaultMetrics: false });
    const workers = new TextMetrics();
    record(node);
    record(workers);
    const a = parseExposition(await node.render());
    const b = parseExposition(await workers.render());
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    expect(a.get('batchgate_calls_total{call="/user",outcome="ok"}')).toBe(3);
    expect(a.get('batchgate_call_duration_seconds_bucket{call="/user",le="0.005"}')).toBe(3);
    expect(a.get('batchgate_call_duration_seconds_bucket{call="/user",le="+Inf"}')).toBe(5);
    // Counted once: a second scrape does not add the pending counts again.
    expect(parseExposition(await node.render()).get('batchgate_calls_total{call="/user",outcome="ok"}')).toBe(3);
  });
});
