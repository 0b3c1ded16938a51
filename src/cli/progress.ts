/**
 * @module
 * The progress of a batch while `payouts submit --wait` polls it. On a terminal (the stream's
 * `isTTY`) one line is redrawn in place (carriage return, clear line); otherwise a plain line is
 * printed each time the counts change, so a log or a CI run keeps a readable record.
 */

export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

/** The counts of GET /v1/batches/{id} that progress shows. */
export interface BatchCounts {
  total_count: number;
  succeeded_count: number;
  failed_count: number;
  cancelled_count: number;
  pending_count: number;
}

const n = (v: number) => v.toLocaleString("en-US");

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * One progress line: `[#####.....] 2,500/5,000 50% · 2,480 ok · 20 failed · 830 items/s · ETA 3s`.
 * `rate` is items per second since watching began (null before it can be told).
 */
export function progressLine(c: BatchCounts, rate: number | null, width = 20): string {
  const done = c.total_count - c.pending_count;
  const ratio = c.total_count > 0 ? done / c.total_count : 1;
  const filled = Math.min(width, Math.floor(ratio * width));
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  const parts = [`${bar} ${n(done)}/${n(c.total_count)} ${Math.floor(ratio * 100)}%`, `${n(c.succeeded_count)} ok`, `${n(c.failed_count)} failed`];
  if (c.cancelled_count > 0) parts.push(`${n(c.cancelled_count)} cancelled`);
  parts.push(rate === null ? "– items/s" : `${n(Math.round(rate))} items/s`);
  parts.push(`ETA ${c.pending_count === 0 ? "0s" : rate && rate > 0 ? duration(c.pending_count / rate) : "?"}`);
  return parts.join(" · ");
}

/** Draws progress on `stream`; `now` is a clock in milliseconds. */
export class ProgressView {
  private startedAt: number | null = null;
  private doneAtStart = 0;
  private last = "";
  private drawn = false;

  /**
   * `since`: when the work began and how many items were done then (the rate counts from there);
   * without it, from the first update.
   */
  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number = Date.now,
    since?: { at: number; done: number },
  ) {
    if (since) {
      this.startedAt = since.at;
      this.doneAtStart = since.done;
    }
  }

  /** Shows the batch's counts as of this poll. */
  update(c: BatchCounts): void {
    const done = c.total_count - c.pending_count;
    const t = this.now();
    if (this.startedAt === null) {
      this.startedAt = t;
      this.doneAtStart = done;
    }
    const elapsed = (t - this.startedAt) / 1000;
    const rate = elapsed > 0 ? (done - this.doneAtStart) / elapsed : null;
    const line = progressLine(c, rate);
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    // Plain output: a line when the counts changed (not for the rate or ETA alone).
    const key = `${done}/${c.succeeded_count}/${c.failed_count}/${c.cancelled_count}/${c.total_count}`;
    if (key !== this.last) this.stream.write(`${line}\n`);
    this.last = key;
  }

  /** Ends the redrawn line (a terminal), so what follows starts on a line of its own. */
  finish(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write("\n");
    this.drawn = false;
  }
}
