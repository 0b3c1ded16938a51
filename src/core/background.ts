/**
 * @module
 * The timer-driven BackgroundRunner (Node, and tests): each pump runs in its own loop, never
 * twice at once; it sleeps until the time it asked for, at most `idlePollMs` (so work stored by
 * another instance sharing the store is found), and wake() cuts the sleep short. A pump that throws
 * is logged and retried with exponential backoff (up to `idlePollMs`).
 */
import type { BackgroundRunner, Pump } from "../ports/background.js";
import type { Clock, Logger } from "../ports/runtime.js";

export interface TimerRunnerOptions {
  clock: Clock;
  logger: Logger;
  /** Longest sleep of an idle pump (ms). */
  idlePollMs?: number;
}

interface Loop {
  pump: Pump;
  running: Promise<void> | null;
  timer: ReturnType<typeof setTimeout> | null;
  /** wake() arrived while the pump was running: run again right after. */
  again: boolean;
  failures: number;
}

export class TimerRunner implements BackgroundRunner {
  private readonly loops = new Map<string, Loop>();
  private started = false;
  private readonly idlePollMs: number;

  constructor(private readonly opts: TimerRunnerOptions) {
    this.idlePollMs = opts.idlePollMs ?? 1000;
  }

  register(name: string, pump: Pump): void {
    if (this.loops.has(name)) throw new Error(`background pump ${name} is registered twice`);
    this.loops.set(name, { pump, running: null, timer: null, again: false, failures: 0 });
    if (this.started) this.schedule(name, 0);
  }

  wake(name?: string): void {
    if (!this.started) return;
    for (const n of name === undefined ? this.loops.keys() : [name]) {
      const loop = this.loops.get(n);
      if (!loop) continue;
      if (loop.running) loop.again = true;
      else this.schedule(n, 0);
    }
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const name of this.loops.keys()) this.schedule(name, 0);
  }

  async stop(): Promise<void> {
    this.started = false;
    const running: Promise<void>[] = [];
    for (const loop of this.loops.values()) {
      if (loop.timer) clearTimeout(loop.timer);
      loop.timer = null;
      if (loop.running) running.push(loop.running);
    }
    await Promise.all(running);
  }

  private schedule(name: string, delayMs: number) {
    const loop = this.loops.get(name)!;
    if (!this.started) return;
    if (loop.timer) clearTimeout(loop.timer);
    loop.timer = setTimeout(() => {
      loop.timer = null;
      this.run(name);
    }, Math.max(0, Math.min(delayMs, this.idlePollMs)));
  }

  private run(name: string) {
    const loop = this.loops.get(name)!;
    if (loop.running || !this.started) return;
    loop.again = false;
    loop.running = (async () => {
      let delay = this.idlePollMs;
      try {
        const next = await loop.pump(this.opts.clock.now());
        loop.failures = 0;
        if (next === "now") delay = 0;
        else if (next !== null) delay = next - this.opts.clock.now();
      } catch (e) {
        loop.failures++;
        delay = Math.min(this.idlePollMs, 50 * 2 ** Math.min(loop.failures, 10));
        this.opts.logger.error({ pump: name, err: e instanceof Error ? e.message : String(e) }, "background pump failed");
      } finally {
        loop.running = null;
      }
      this.schedule(name, loop.again ? 0 : delay);
    })();
  }
}
