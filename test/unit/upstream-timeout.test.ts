/**
 * The upstream handler's own timeout on fake timers. The fetch here is a stand-in that answers
 * only when its signal aborts (a real slow server is in test/routes/upstream.test.ts; this pins the
 * exact instant, which a real socket under a loaded machine cannot).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CallContext } from "../../src/core/call-contract.js";
import { GatewayError } from "../../src/core/errors.js";
import { upstreamHandler } from "../../src/handlers/upstream.js";
import type { Logger } from "../../src/ports/runtime.js";

const logger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => logger };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function context(fetchFn: typeof fetch, callSignal: AbortSignal): CallContext {
  return {
    principal: null,
    authorization: "at_x",
    ref: null,
    signal: callSignal,
    requestId: "req_1",
    logger,
    services: { fetch: fetchFn } as unknown as CallContext["services"],
  };
}

/** A fetch that never answers on its own: it rejects when its signal aborts. */
const hangingFetch = (seen: AbortSignal[]): typeof fetch =>
  ((_url: unknown, init?: RequestInit) =>
    new Promise((_resolve, reject) => {
      seen.push(init!.signal!);
      init!.signal!.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
    })) as typeof fetch;

describe("upstream timeout", () => {
  it("answers call_timeout exactly at timeout_ms, and aborts the request", async () => {
    const seen: AbortSignal[] = [];
    const h = upstreamHandler({ call: "/slow/x", url: "http://127.0.0.1:9/slow", timeout_ms: 200, auth: "forward" });
    let outcome: unknown;
    void h.run({}, context(hangingFetch(seen), new AbortController().signal)).then(
      (v) => (outcome = v),
      (e: unknown) => (outcome = e),
    );
    await vi.advanceTimersByTimeAsync(199);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(GatewayError);
    expect((outcome as GatewayError).code).toBe("call_timeout");
    expect(seen[0].aborted).toBe(true);
  });

  it("stops at once when the call's own signal aborts (call timeout or batch deadline)", async () => {
    const seen: AbortSignal[] = [];
    const call = new AbortController();
    const h = upstreamHandler({ call: "/slow/x", url: "http://127.0.0.1:9/slow", timeout_ms: 60_000, auth: "forward" });
    let outcome: unknown;
    void h.run({}, context(hangingFetch(seen), call.signal)).catch((e: unknown) => (outcome = e));
    await vi.advanceTimersByTimeAsync(10);
    call.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect((outcome as GatewayError).code).toBe("call_timeout");
    expect(seen[0].aborted).toBe(true);
    // No timer is left behind for the 60 s upstream timeout.
    expect(vi.getTimerCount()).toBe(0);
  });
});
