/**
 * @module
 * The BackgroundRunner on Workers: the Durable Object's one alarm. Every pump runs when the alarm
 * fires (GatewayObject.alarm → runDue); the alarm is then set to the earliest time any pump asked
 * for, or `idlePollMs` from now while any pump reported work pending. The alarm is durable: it fires
 * after an eviction or a restart too, so background work resumes without a request. wake() brings
 * the alarm forward to now. Web-standard code only (the storage is passed in).
 */
import type { BackgroundRunner, Pump } from "../../ports/background.js";
import type { Clock, Logger } from "../../ports/runtime.js";

/** The part of DurableObjectStorage the runner uses. */
export interface AlarmStorage {
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
}

export interface AlarmRunnerOptions {
  storage: AlarmStorage;
  clock: Clock;
  logger: Logger;
  /** When a pump returns null: how long until the alarm checks again (ms); null = only when woken. */
  idlePollMs?: number | null;
}

export class AlarmRunner implements BackgroundRunner {
  private readonly pumps = new Map<string, Pump>();
  private started = false;
  private running: Promise<void> | null = null;

  constructor(private readonly opts: AlarmRunnerOptions) {}

  register(name: string, pump: Pump): void {
    if (this.pumps.has(name)) throw new Error(`background pump ${name} is registered twice`);
    this.pumps.set(name, pump);
    if (this.started) this.wake();
  }

  wake(): void {
    if (!this.started || this.pumps.size === 0) return;
    void this.setAlarmAtMost(this.opts.clock.now()).catch((e: unknown) =>
      this.opts.logger.error({ err: e instanceof Error ? e.message : String(e) }, "could not set the alarm"),
    );
  }

  start(): void {
    this.started = true;
    this.wake();
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.running;
  }

  /** Called from the Durable Object's alarm(): runs every pump once and sets the next alarm. */
  async runDue(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      const now = this.opts.clock.now();
      let next: number | null = null;
      for (const [name, pump] of this.pumps) {
        let want: number | "now" | null;
        try {
          want = await pump(now);
        } catch (e) {
          this.opts.logger.error({ pump: name, err: e instanceof Error ? e.message : String(e) }, "background pump failed");
          want = now + 1000;
        }
        const at = want === "now" ? this.opts.clock.now() : want === null ? (this.opts.idlePollMs == null ? null : now + this.opts.idlePollMs) : want;
        if (at !== null && (next === null || at < next)) next = at;
      }
      if (next !== null && this.started) await this.setAlarmAtMost(next);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async setAlarmAtMost(at: number) {
    const current = await this.opts.storage.getAlarm();
    if (current === null || current > at) await this.opts.storage.setAlarm(at);
  }
}
