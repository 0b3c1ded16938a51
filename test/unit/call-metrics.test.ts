/**
 * The engine's observer turned into metrics (src/core/call-metrics.ts), over a real engine and
 * registry: every answered call is counted once by name and outcome, unknown names collapse into
 * one label value, calls cut off by the batch deadline are counted but not timed, and a call's
 * result tells the token limit and per-call idempotency counters what happened.
 */
import PQueue from "p-queue";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { memoryRateLimiter } from "../../src/adapters/rate-limit/flexible.js";
import { SandboxRail } from "../../src/adapters/rails/sandbox.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Authenticator } from "../../src/core/auth.js";
import { defineHandler } from "../../src/core/call-contract.js";
import { callMetrics } from "../../src/core/call-metrics.js";
import { BatchEngine } from "../../src/core/engine.js";
import { TextMetrics } from "../../src/core/metrics-registry.js";
import { HandlerRegistry } from "../../src/handlers/registry.js";
import type { Logger } from "../../src/ports/runtime.js";
import { parseExposition, sampleOf } from "../helpers/prometheus.js";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function setup(batchDeadlineMs: number) {
  const registry = new HandlerRegistry();
  registry.register(defineHandler({ name: "/test/ok", summary: "answers", auth: "none", schema: z.strictObject({}), run: async () => ({ ok: true }) }));
  registry.register(
    defineHandler({
      name: "/test/hang",
      summary: "runs until aborted",
      auth: "none",
      schema: z.strictObject({}),
      run: (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve({}))),
    }),
  );
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const clock = { now: () => Date.now() };
  const metrics = new TextMetrics();
  const engine = new BatchEngine({
    handlers: registry,
    auth: new Authenticator(store.clients, store.tokens, nodeHasher, clock),
    tokenLimiter: memoryRateLimiter("token", 1000, 60),
    services: { ledger: store.ledger, rails: new SandboxRail(), clock, fetch },
    inflight: new PQueue({ concurrency: 100 }),
    options: { batchConcurrency: 1, callTimeoutMs: 60_000, batchDeadlineMs },
    observer: callMetrics(metrics, registry),
  });
  return { engine, metrics };
}

describe("call metrics from the engine's observer", () => {
  it("counts each answered call once, collapses unknown names, and does not time calls the deadline cut off", async () => {
    const { engine, metrics } = setup(50);
    const results = await engine.runBatch(
      [{ call: "/test/ok" }, { call: "/no/such-1" }, { call: "/no/such-2" }, { call: "/test/hang" }, { call: "/test/hang" }],
      { requestId: "req_t", logger: silent },
    );
    expect(results.map((r) => r.status)).toEqual([200, 404, 404, 504, 504]);
    // The hanging call settles after the deadline; it must not be counted a second time.
    await new Promise((r) => setTimeout(r, 20));
    const text = await metrics.render();
    const s = parseExposition(text);
    expect(sampleOf(s, "batchgate_calls_total", { call: "/test/ok", outcome: "ok" })).toBe(1);
    expect(sampleOf(s, "batchgate_calls_total", { call: "unknown", outcome: "unknown_call" })).toBe(2);
    expect(sampleOf(s, "batchgate_calls_total", { call: "/test/hang", outcome: "batch_deadline_exceeded" })).toBe(2);
    expect(sampleOf(s, "batchgate_calls_total", { call: "/test/hang", outcome: "ok" })).toBe(0);
    expect(sampleOf(s, "batchgate_call_duration_seconds_count", { call: "/test/ok" })).toBe(1);
    expect(sampleOf(s, "batchgate_call_duration_seconds_count", { call: "unknown" })).toBe(2);
    expect(sampleOf(s, "batchgate_call_duration_seconds_count", { call: "/test/hang" })).toBe(0);
    expect(text).not.toContain("/no/such");
  });

  it("reads the token limit, per-call idempotency and store failures from a call's result", () => {
    const metrics = new TextMetrics();
    const registry = new HandlerRegistry();
    registry.register(defineHandler({ name: "/test/ok", summary: "answers", auth: "none", schema: z.strictObject({}), run: async () => ({}) }));
    const observer = callMetrics(metrics, registry);
    const failed = (error: string, status: number) => ({ call: "/test/ok", reference_id: null, status, response: { error, error_description: "x", error_code: 1 } });
    observer.callFinished(failed("throttle_exceeded", 429), 1);
    observer.callFinished(failed("idempotency_key_in_use", 409), 1);
    observer.callFinished(failed("idempotency_key_reused", 422), 1);
    observer.callFinished(failed("service_unavailable", 503), 1);
    observer.callFinished({ call: "/test/ok", reference_id: null, status: 200, response: {}, replayed: true }, 1);
    return metrics.render().then((text) => {
      const s = parseExposition(text);
      expect(sampleOf(s, "batchgate_rate_limit_rejections_total", { policy: "token" })).toBe(1);
      expect(sampleOf(s, "batchgate_idempotency_total", { result: "in_use" })).toBe(1);
      expect(sampleOf(s, "batchgate_idempotency_total", { result: "reused" })).toBe(1);
      expect(sampleOf(s, "batchgate_idempotency_total", { result: "replay" })).toBe(1);
      expect(sampleOf(s, "batchgate_store_errors_total")).toBe(1);
      // The replay is not a call run: four calls counted, none of them ok.
      expect(sampleOf(s, "batchgate_calls_total", { call: "/test/ok", outcome: "ok" })).toBe(0);
      expect(sampleOf(s, "batchgate_call_duration_seconds_count", { call: "/test/ok" })).toBe(4);
    });
  });
});
