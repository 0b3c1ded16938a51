/**
 * @module
 * Background work (asynchronous batches, webhook deliveries, recovery of unfinished atomic
 * batches): each kind of work is a *pump* that does one bounded slice of durable work and says when
 * it wants to run again. The runner owns the timing: timers on Node (src/core/background.ts), the
 * Durable Object's alarm on Workers (src/adapters/workers/alarm-runner.ts). Pumps keep their state in
 * the store, never in the runner, so a restart (or another instance) picks the work up where it was.
 */

/**
 * Does a bounded slice of work and returns when it wants to run next: an epoch-ms time, `"now"`
 * when there is more to do at once, or null when idle until woken (or the runner's idle poll).
 * A pump never runs twice at once within one runner.
 */
export type Pump = (now: number) => Promise<number | "now" | null>;

export interface BackgroundRunner {
  /** Registers a pump under a unique name (before or after start). */
  register(name: string, pump: Pump): void;
  /** New work was stored: run that pump (or every pump) as soon as possible. */
  wake(name?: string): void;
  start(): void;
  /** Stops scheduling and waits for running pumps to return. */
  stop(): Promise<void>;
}
