/**
 * The batch engine alone: ordering, the per-batch concurrency limit, the process-wide cap,
 * per-call timeouts, the batch deadline and failure isolation. Handlers here are small real
 * handlers (no token needed), registered in a real registry.
 *
 * Time is faked (vi.useFakeTimers: timers and Date), so every timing assertion is exact: a call
 * that must time out at 400 ms is still pending at 399 ms and answered at 400 ms. p-queue
 * schedules with promises and queueMicrotask, which vitest leaves real, so the queues run as in
 * production.
 */
import PQueue from "p-queue";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { memoryRateLimiter } from "../../src/adapters/rate-limit/flexible.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Authenticator } from "../../src/core/auth.js";
import { BatchEngine, type CallRequest, type EngineOptions } from "../../src/core/engine.js";
import { GatewayError } from "../../src/core/errors.js";
import { defineHandler } from "../../src/core/call-contract.js";
import { HandlerRegistry } from "../../src/handlers/registry.js";
import { SandboxRail } from "../../src/adapters/rails/sandbox.js";
import type { Logger } from "../../src/ports/runtime.js";

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const make = (bindings: Record<string, unknown>): Logger => ({
    debug: (f) => void lines.push({ ...bindings, ...f, level: "debug" }),
    info: (f) => void lines.push({ ...bindings, ...f, level: "info" }),
    warn: (f) => void lines.push({ ...bindings, ...f, level: "warn" }),
    error: (f, msg) => void lines.push({ ...bindings, ...f, msg, level: "error" }),
    child: (b) => make({ ...bindings, ...b }),
  });
  return { logger: make({}), lines };
}

function makeEngine(opts: Partial<EngineOptions> & { inflight?: number } = {}) {
  const state = {
    running: 0,
    maxRunning: 0,
    started: [] as number[],
    finished: [] as number[],
    aborted: [] as number[],
    abortReasons: {} as Record<number, string>,
    inflightSeen: [] as number[],
  };
  const engineRef: { engine?: BatchEngine } = {};
  const registry = new HandlerRegistry();
  registry.register(
    defineHandler({
      name: "/test/sleep",
      summary: "sleeps ms, records concurrency",
      auth: "none",
      schema: z.strictObject({ id: z.number(), ms: z.number() }),
      async run(p, ctx) {
        state.running++;
        state.maxRunning = Math.max(state.maxRunning, state.running);
        state.started.push(p.id);
        try {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, p.ms);
            ctx.signal.addEventListener("abort", () => {
              clearTimeout(t);
              state.aborted.push(p.id);
              state.abortReasons[p.id] = (ctx.signal.reason as GatewayError).code;
              resolve();
            });
          });
          state.finished.push(p.id);
          return { id: p.id };
        } finally {
          state.running--;
        }
      },
    }),
  );
  // The same handler marked read-only: such calls start inside a read snapshot, a wave at a time.
  const sleep = registry.get("/test/sleep")!;
  registry.register({ ...sleep, name: "/test/sleep-ro", readOnly: true });
  // A lookup with a synchronous form (the store here reads synchronously): it runs inline.
  registry.register(
    defineHandler({
      name: "/test/sync",
      summary: "answers at once, records the in-flight count it ran under",
      auth: "none",
      readOnly: true,
      schema: z.strictObject({ id: z.number() }),
      async run(p) {
        return { id: p.id, async: true };
      },
      runSync(p) {
        state.started.push(p.id);
        state.inflightSeen.push(engineRef.engine!.inflightCalls);
        return { id: p.id };
      },
    }),
  );
  registry.register(
    defineHandler({
      name: "/test/stubborn",
      summary: "sleeps ms and ignores its abort signal",
      auth: "none",
      schema: z.strictObject({ id: z.number(), ms: z.number() }),
      async run(p) {
        await new Promise((resolve) => setTimeout(resolve, p.ms));
        state.finished.push(p.id);
        return { id: p.id };
      },
    }),
  );
  registry.register(
    defineHandler({
      name: "/test/throw",
      summary: "throws",
      auth: "none",
      schema: z.strictObject({}),
      async run() {
        throw new Error("boom with detail");
      },
    }),
  );
  registry.register(
    defineHandler({
      name: "/test/fail",
      summary: "fails with a catalog error",
      auth: "none",
      schema: z.strictObject({}),
      async run() {
        throw new GatewayError("not_found", "Nothing here.");
      },
    }),
  );
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const clock = { now: () => Date.now() };
  const engine = new BatchEngine({
    handlers: registry,
    auth: new Authenticator(store.clients, store.tokens, nodeHasher, clock),
    tokenLimiter: memoryRateLimiter("token", 1000, 60),
    services: { ledger: store.ledger, rails: new SandboxRail(), clock, fetch },
    inflight: new PQueue({ concurrency: opts.inflight ?? 1000 }),
    options: { batchConcurrency: opts.batchConcurrency ?? 10, callTimeoutMs: opts.callTimeoutMs ?? 5000, batchDeadlineMs: opts.batchDeadlineMs ?? 10_000 },
  });
  engineRef.engine = engine;
  const { logger, lines } = captureLogger();
  return { engine, state, logger, lines, run: (calls: CallRequest[]) => engine.runBatch(calls, { requestId: "req_test", logger }) };
}


const sleepCall = (id: number, ms: number): CallRequest => ({ call: "/test/sleep", reference_id: `r${id}`, parameters: { id, ms } });

/** Follows a promise so a test can ask, at a given fake time, whether it has settled yet. */
function track<T>(p: Promise<T>) {
  const t = { done: false, value: undefined as T | undefined };
  void p.then((v) => {
    t.done = true;
    t.value = v;
  });
  return t;
}

const description = (r: { response: unknown }) => (r.response as { error_description: string }).error_description;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("BatchEngine", () => {
  it("returns one result per call in request order even when later calls finish first", async () => {
    const { run, state } = makeEngine();
    const batch = track(run([50, 10, 30, 1, 20].map((ms, i) => sleepCall(i, ms))));
    await vi.advanceTimersByTimeAsync(50);
    expect(batch.done).toBe(true);
    // They did finish out of order; the results are still in request order.
    expect(state.finished).toEqual([3, 1, 4, 2, 0]);
    const results = batch.value!;
    expect(results.map((r) => r.reference_id)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    expect(results.map((r) => (r.response as { id: number }).id)).toEqual([0, 1, 2, 3, 4]);
    expect(results.every((r) => r.status === 200)).toBe(true);
  });

  it.each([
    ["writing", "/test/sleep"],
    ["read-only", "/test/sleep-ro"],
  ])("never runs more calls of one batch at once than the per-batch limit, and keeps that many busy (%s handlers)", async (_kind, name) => {
    const { run, state } = makeEngine({ batchConcurrency: 3 });
    const batch = track(run(Array.from({ length: 12 }, (_, i) => ({ ...sleepCall(i, 100), call: name }))));
    await vi.advanceTimersByTimeAsync(0);
    expect(state.running).toBe(3);
    expect(state.started).toEqual([0, 1, 2]);
    // Four waves of three: pending just before 400 ms, done at 400 ms.
    await vi.advanceTimersByTimeAsync(250);
    expect(state.running).toBe(3);
    expect(state.started).toHaveLength(9);
    await vi.advanceTimersByTimeAsync(149);
    expect(batch.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(batch.done).toBe(true);
    expect(batch.value!.every((r) => r.status === 200)).toBe(true);
    expect(state.maxRunning).toBe(3);
  });

  it("runs inline calls under the process-wide cap: they wait for a place, and take one at a time", async () => {
    const { engine, state, logger } = makeEngine({ batchConcurrency: 10, inflight: 1 });
    const first = track(engine.runBatch([sleepCall(100, 100)], { requestId: "req_a", logger }));
    const second = track(engine.runBatch(Array.from({ length: 5 }, (_, i) => ({ call: "/test/sync", reference_id: `s${i}`, parameters: { id: i } })), { requestId: "req_b", logger }));
    await vi.advanceTimersByTimeAsync(50);
    // The one place is held by the sleeping call: the lookups have not run.
    expect(state.started).toEqual([100]);
    expect(second.done).toBe(false);
    await vi.advanceTimersByTimeAsync(50);
    expect(first.done && second.done).toBe(true);
    expect(second.value!.map((r) => r.response)).toEqual(Array.from({ length: 5 }, (_, i) => ({ id: i })));
    expect(state.inflightSeen).toEqual([1, 1, 1, 1, 1]);
    expect(engine.inflightCalls).toBe(0);
  });

  it("caps calls in flight across concurrent batches with the process-wide limit", async () => {
    const { engine, state, logger } = makeEngine({ batchConcurrency: 10, inflight: 4 });
    const batches = track(
      Promise.all(
        Array.from({ length: 3 }, (_, b) =>
          engine.runBatch(Array.from({ length: 6 }, (_, i) => sleepCall(b * 10 + i, 100)), { requestId: `req_${b}`, logger }),
        ),
      ),
    );
    // 18 calls, 4 at a time: five waves of 100 ms.
    for (let wave = 0; wave < 4; wave++) {
      await vi.advanceTimersByTimeAsync(wave === 0 ? 0 : 100);
      expect(state.running).toBe(4);
      expect(state.started).toHaveLength(4 * (wave + 1));
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(state.running).toBe(2);
    await vi.advanceTimersByTimeAsync(99);
    expect(batches.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches.done).toBe(true);
    expect(batches.value!.flat().every((r) => r.status === 200)).toBe(true);
    expect(state.maxRunning).toBe(4);
  });

  it("times out a slow call alone at the call timeout, aborting its signal, while the others complete", async () => {
    const { run, state } = makeEngine({ callTimeoutMs: 400 });
    const batch = track(run([sleepCall(0, 1), sleepCall(1, 5_000), sleepCall(2, 1)]));
    await vi.advanceTimersByTimeAsync(399);
    expect(batch.done).toBe(false);
    expect(state.aborted).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batch.done).toBe(true);
    const results = batch.value!;
    expect(results[0].status).toBe(200);
    expect(results[2].status).toBe(200);
    expect(results[1].status).toBe(504);
    expect(results[1].response).toEqual({
      error: "call_timeout",
      error_description: "The call did not finish within 400 ms.",
      error_code: 4001,
    });
    expect(state.aborted).toEqual([1]);
    expect(state.abortReasons[1]).toBe("call_timeout");
  });

  it("answers a single call by its timeout, and settles with the handler's real outcome when it finishes", async () => {
    const { engine, state, logger } = makeEngine({ callTimeoutMs: 400 });
    const outcome = track(engine.runSingle({ call: "/test/stubborn", reference_id: "s", parameters: { id: 7, ms: 1_000 } }, { requestId: "req_single", logger }));
    await vi.advanceTimersByTimeAsync(399);
    expect(outcome.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome.done).toBe(true);
    expect(outcome.value!.result.response).toMatchObject({ error: "call_timeout" });
    expect(outcome.value!.executed).toBe(true);
    const settled = track(outcome.value!.settled);
    await vi.advanceTimersByTimeAsync(599);
    expect(settled.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled.done).toBe(true);
    expect(settled.value).toEqual({ call: "/test/stubborn", reference_id: "s", status: 200, response: { id: 7 } });
    expect(state.finished).toEqual([7]);
  });

  it("answers by the batch deadline: finished calls keep results, running and unreached ones say so", async () => {
    const { run, state } = makeEngine({ batchConcurrency: 1, batchDeadlineMs: 500, callTimeoutMs: 10_000 });
    const batch = track(run([sleepCall(0, 1), sleepCall(1, 3_000), sleepCall(2, 1), sleepCall(3, 1)]));
    await vi.advanceTimersByTimeAsync(499);
    expect(batch.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(batch.done).toBe(true);
    const results = batch.value!;
    expect(results[0]).toMatchObject({ status: 200, response: { id: 0 } });
    expect(results[1]).toMatchObject({ status: 504, response: { error: "batch_deadline_exceeded" } });
    expect(description(results[1])).toBe("The batch deadline passed before this call finished.");
    for (const r of results.slice(2)) {
      expect(r).toMatchObject({ status: 504, response: { error: "batch_deadline_exceeded" } });
      expect(description(r)).toBe("The batch deadline passed before this call was reached; it did not run.");
    }
    expect(state.aborted).toEqual([1]);
    expect(state.abortReasons[1]).toBe("batch_deadline_exceeded");
    // Unreached calls never start, however long the process runs on.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(state.started).toEqual([0, 1]);
  });

  it("does not start calls still waiting for the process-wide cap once their batch's deadline passed", async () => {
    const { engine, state, logger } = makeEngine({ batchConcurrency: 10, inflight: 1, batchDeadlineMs: 500, callTimeoutMs: 10_000 });
    const batch = track(engine.runBatch([sleepCall(0, 2_000), sleepCall(1, 1), sleepCall(2, 1)], { requestId: "req_cap", logger }));
    await vi.advanceTimersByTimeAsync(500);
    expect(batch.done).toBe(true);
    expect(batch.value!.map(description)).toEqual([
      "The batch deadline passed before this call finished.",
      "The batch deadline passed before this call was reached; it did not run.",
      "The batch deadline passed before this call was reached; it did not run.",
    ]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(state.started).toEqual([0]);
  });

  it("isolates failures: a throwing handler is processing_error for that call only, logged with the request id", async () => {
    const { run, lines } = makeEngine();
    const batch = track(
      run([
        sleepCall(0, 1),
        { call: "/test/throw", reference_id: "t" },
        { call: "/test/fail", reference_id: "f" },
        { call: "/no/such/call", reference_id: "u" },
        { call: "/test/sleep", reference_id: "bad", parameters: { id: "x", ms: 1 } },
        sleepCall(5, 1),
      ]),
    );
    await vi.advanceTimersByTimeAsync(1);
    expect(batch.done).toBe(true);
    const results = batch.value!;
    expect(results.map((r) => r.status)).toEqual([200, 500, 404, 404, 400, 200]);
    expect(results[1].response).toEqual({ error: "processing_error", error_description: "The call failed unexpectedly.", error_code: 4003 });
    expect(JSON.stringify(results[1].response)).not.toContain("boom");
    expect(results[2].response).toMatchObject({ error: "not_found", error_description: "Nothing here." });
    expect(results[3].response).toMatchObject({ error: "unknown_call" });
    expect(description(results[4])).toMatch(/^parameters\.id: /);
    const logged = lines.find((l) => l.level === "error");
    expect(logged).toMatchObject({ request_id: "req_test", call: "/test/throw", reference_id: "t" });
    expect(JSON.stringify(logged)).toContain("boom with detail");
  });
});
