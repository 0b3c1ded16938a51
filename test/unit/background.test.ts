/**
 * The background runners on fake timers (the Durable Object alarm is a small in-memory stand-in
 * with the same getAlarm/setAlarm contract: the real alarm needs workerd).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AlarmRunner } from "../../src/adapters/workers/alarm-runner.js";
import { TimerRunner } from "../../src/core/background.js";
import type { Logger } from "../../src/ports/runtime.js";

const errors: string[] = [];
const logger: Logger = { debug() {}, info() {}, warn() {}, error: (f) => void errors.push(String(f.err)), child: () => logger };
const clock = { now: () => Date.now() };

beforeEach(() => {
  vi.useFakeTimers();
  errors.length = 0;
});
afterEach(() => vi.useRealTimers());

describe("TimerRunner", () => {
  it("runs a pump when started, again at the time it asks for, and polls an idle pump", async () => {
    const runs: number[] = [];
    const start = Date.now();
    const r = new TimerRunner({ clock, logger, idlePollMs: 1000 });
    r.register("p", async (now) => {
      runs.push(now - start);
      return runs.length === 1 ? now + 300 : null;
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toEqual([]);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([5000]);
    await vi.advanceTimersByTimeAsync(299);
    expect(runs.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([5000, 5300]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toEqual([5000, 5300, 6300]);
    await r.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs.length).toBe(3);
  });

  it("never runs one pump twice at once; a wake during a run runs it again right after", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release!: () => void;
    const r = new TimerRunner({ clock, logger, idlePollMs: 60_000 });
    r.register("p", async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      if (runs === 1) await new Promise<void>((res) => (release = res));
      active--;
      return null;
    });
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    r.wake("p");
    r.wake();
    await vi.advanceTimersByTimeAsync(10);
    expect(runs).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    await r.stop();
  });

  it("'now' runs again at once; a throwing pump is logged and retried with backoff", async () => {
    let n = 0;
    const r = new TimerRunner({ clock, logger, idlePollMs: 10_000 });
    r.register("busy", async () => (++n < 5 ? "now" : null));
    let fails = 0;
    r.register("flaky", async () => {
      if (++fails <= 2) throw new Error(`boom ${fails}`);
      return null;
    });
    r.start();
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(1);
    expect(n).toBe(5);
    await vi.advanceTimersByTimeAsync(500);
    expect(fails).toBe(3);
    expect(errors).toEqual(["boom 1", "boom 2"]);
    await r.stop();
  });
});

describe("AlarmRunner", () => {
  function fakeAlarm() {
    let at: number | null = null;
    return {
      storage: { getAlarm: async () => at, setAlarm: async (t: number) => void (at = t) },
      get: () => at,
      fire: () => void (at = null),
    };
  }

  it("sets the alarm to now on start and wake (only with pumps), and to the earliest time the pumps ask for", async () => {
    const alarm = fakeAlarm();
    const r = new AlarmRunner({ storage: alarm.storage, clock, logger, idlePollMs: null });
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(alarm.get()).toBeNull();
    const t0 = Date.now();
    const seen: string[] = [];
    r.register("a", async () => (seen.push("a"), t0 + 5000));
    r.register("b", async () => (seen.push("b"), t0 + 2000));
    r.register("idle", async () => (seen.push("idle"), null));
    await vi.advanceTimersByTimeAsync(0);
    expect(alarm.get()).toBe(t0);
    alarm.fire();
    await r.runDue();
    expect(seen).toEqual(["a", "b", "idle"]);
    expect(alarm.get()).toBe(t0 + 2000);
    r.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(alarm.get()).toBe(t0);
  });

  it("keeps polling while a pump has failed or is idle with idlePollMs", async () => {
    const alarm = fakeAlarm();
    const r = new AlarmRunner({ storage: alarm.storage, clock, logger, idlePollMs: 30_000 });
    r.register("boom", async () => {
      throw new Error("down");
    });
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    alarm.fire();
    const now = Date.now();
    await r.runDue();
    expect(errors).toEqual(["down"]);
    expect(alarm.get()).toBe(now + 1000);
  });
});
