/**
 * The batch engine alone: ordering, the per-batch concurrency limit, the process-wide cap,
 * per-call timeouts, the batch deadline and failure isolation. Handlers here are small real
 * handlers (no token needed), registered in a real registry.
 */
import PQueue from "p-queue";
import { describe, expect, it } from "vitest";
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const state = { running: 0, maxRunning: 0, started: [] as number[], aborted: [] as number[] };
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
              resolve();
            });
          });
          return { id: p.id };
        } finally {
          state.running--;
        }
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
  const { logger, lines } = captureLogger();
  return { engine, state, logger, lines, run: (calls: CallRequest[]) => engine.runBatch(calls, { requestId: "req_test", logger }) };
}

const sleepCall = (id: number, ms: number): CallRequest => ({ call: "/test/sleep", reference_id: `r${id}`, parameters: { id, ms } });

describe("BatchEngine", () => {
  it("returns one result per call in request order even when later calls finish first", async () => {
    const { run } = makeEngine();
    const calls = [50, 10, 30, 1, 20].map((ms, i) => sleepCall(i, ms));
    const results = await run(calls);
    expect(results.map((r) => r.reference_id)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    expect(results.map((r) => (r.response as { id: number }).id)).toEqual([0, 1, 2, 3, 4]);
    expect(results.every((r) => r.status === 200)).toBe(true);
  });

  it("never runs more calls of one batch at once than the per-batch limit", async () => {
    const { run, state } = makeEngine({ batchConcurrency: 3 });
    const results = await run(Array.from({ length: 12 }, (_, i) => sleepCall(i, 15)));
    expect(results).toHaveLength(12);
    expect(state.maxRunning).toBe(3);
  });

  it("caps calls in flight across concurrent batches with the process-wide limit", async () => {
    const { engine, state, logger } = makeEngine({ batchConcurrency: 10, inflight: 4 });
    const batches = Array.from({ length: 3 }, (_, b) =>
      engine.runBatch(Array.from({ length: 6 }, (_, i) => sleepCall(b * 10 + i, 10)), { requestId: `req_${b}`, logger }),
    );
    const all = await Promise.all(batches);
    expect(all.flat().every((r) => r.status === 200)).toBe(true);
    expect(state.maxRunning).toBe(4);
  });

  it("times out a slow call alone, aborting its signal, while the others complete", async () => {
    const { run, state } = makeEngine({ callTimeoutMs: 400 });
    const results = await run([sleepCall(0, 1), sleepCall(1, 5_000), sleepCall(2, 1)]);
    expect(results[0].status).toBe(200);
    expect(results[2].status).toBe(200);
    expect(results[1].status).toBe(504);
    expect(results[1].response).toMatchObject({ error: "call_timeout", error_code: 4001 });
    expect(state.aborted).toContain(1);
  });

  it("answers by the batch deadline: finished calls keep results, running and unreached ones say so", async () => {
    const { run, state } = makeEngine({ batchConcurrency: 1, batchDeadlineMs: 500, callTimeoutMs: 10_000 });
    const results = await run([sleepCall(0, 1), sleepCall(1, 3_000), sleepCall(2, 1), sleepCall(3, 1)]);
    expect(results[0].status).toBe(200);
    expect(results[1].response).toMatchObject({ error: "batch_deadline_exceeded" });
    expect((results[1].response as { error_description: string }).error_description).toMatch(/before this call finished/);
    for (const r of results.slice(2)) {
      expect(r.status).toBe(504);
      expect((r.response as { error_description: string }).error_description).toMatch(/was not reached; it did not run|before this call was reached/);
    }
    // Unreached calls never start, even after the deadline.
    await sleep(100);
    expect(state.started).toEqual([0, 1]);
    expect(state.aborted).toContain(1);
  });

  it("isolates failures: a throwing handler is processing_error for that call only, logged with the request id", async () => {
    const { run, lines } = makeEngine();
    const results = await run([
      sleepCall(0, 1),
      { call: "/test/throw", reference_id: "t" },
      { call: "/test/fail", reference_id: "f" },
      { call: "/no/such/call", reference_id: "u" },
      { call: "/test/sleep", reference_id: "bad", parameters: { id: "x", ms: 1 } },
      sleepCall(5, 1),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 500, 404, 404, 400, 200]);
    expect(results[1].response).toEqual({ error: "processing_error", error_description: "The call failed unexpectedly.", error_code: 4003 });
    expect(JSON.stringify(results[1].response)).not.toContain("boom");
    expect(results[2].response).toMatchObject({ error: "not_found", error_description: "Nothing here." });
    expect(results[3].response).toMatchObject({ error: "unknown_call" });
    expect((results[4].response as { error_description: string }).error_description).toMatch(/^parameters\.id: /);
    const logged = lines.find((l) => l.level === "error");
    expect(logged).toMatchObject({ request_id: "req_test", call: "/test/throw", reference_id: "t" });
    expect(JSON.stringify(logged)).toContain("boom with detail");
  });
});
