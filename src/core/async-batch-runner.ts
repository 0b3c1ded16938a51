/**
 * @module
 * Running asynchronous batches: a *slice* reads up to N pending items of one processing batch,
 * runs them (bounded concurrency, at most `ratePerClient` items a second per client, the per-token
 * rate limit applied to each item by the engine), records all their outcomes in ONE store write,
 * then emits the item events and, when the batch ended, the batch.completed digest.
 *
 * No event is lost to a crash: the store write that records an outcome (or ends a run) also marks
 * its event owed, and the mark is cleared only after the emit. Whatever is still owed is emitted
 * again at the end of each slice, when a runner takes up a batch, and by the pumps' sweep (see
 * flushEvents); the outbox keeps one message per endpoint and event id, so a re-emit delivers
 * nothing twice.
 *
 * Exactly once: an item's effects are named from the batch and the item (`effectRef` of
 * `abatch:<batchId>` and the index; a payment is `pay_<ref>`), and the ledger is idempotent by that
 * name. A crash after an item moved money but before its outcome was recorded leaves it pending;
 * running it again replays the recorded payment instead of paying twice, and records that. An
 * outcome is recorded only for an item still pending at that attempt, so a recorded item is never
 * run again. A retry of a failed item keeps the same ref: if the failed attempt had in fact moved
 * money (it timed out after the transfer), the retry finds that payment and records it.
 *
 * Payout items (`call: "payout"`) run through runPayoutItem (src/core/payout-items.ts) instead of
 * the engine, named the same way: the treasury → wallet transfer `pay_<ref>`, the wallet → rail
 * payout `po_<ref of abatch:<batchId>:attempt:<attempt>>`.
 *
 * Who runs slices: the `async-batches` background pump (embedded store and Workers), or BullMQ jobs
 * on STORE=redis (src/adapters/redis/bull-batches.ts), which call runSlice for a range of items.
 */
import PQueue from "p-queue";
import type { Pump } from "../ports/background.js";
import type { BatchItemRecord, BatchRecord, BatchStatus, BatchStore, ItemOutcome } from "../ports/batches.js";
import type { Clock, Logger } from "../ports/runtime.js";
import type { AsyncBatches } from "./async-batches.js";
import { isPayoutItem, payoutEcho, payoutOutcome, startedEvent, TERMINAL_STATUSES, terminalStatus } from "./async-batches.js";
import type { BatchEngine } from "./engine.js";
import { effectRef, type Sha256Hex } from "./effect-ref.js";
import { PAYOUT_CALL, runPayoutItem } from "./payout-items.js";
import type { LedgerStore } from "../ports/ledger.js";
import type { RailProvider } from "../ports/rails.js";
import type { TreasuryStore } from "../ports/treasury.js";

/** Owed item events read and emitted at a time. */
const FLUSH_PAGE = 500;

/** Runs remembered as taken up (then the memory starts again). */
const REMEMBERED_RUNS = 10_000;

/** The statuses a run ends in by its items (a digest is owed for these). */
const ENDED: readonly BatchStatus[] = ["completed", "completed_with_failures", "failed"];

export interface AsyncRunnerOptions {
  /** Items of one slice running at once. */
  concurrency: number;
  /** Items started per second per API client (per process). */
  ratePerClient: number;
  /** Items read, run and recorded together. */
  sliceSize: number;
  /** How long a payout item's rail call may take before it counts as unavailable. */
  railTimeoutMs: number;
}

export interface SliceResult {
  /** Items of the range are still pending. */
  more: boolean;
  /** Some items were held back by their token's rate limit: come back at this time. */
  retryAt?: number;
}

export interface RunnerDeps {
  store: BatchStore;
  batches: AsyncBatches;
  engine: BatchEngine;
  /** Payout items (`call: "payout"`, src/core/payout-items.ts): the client's treasury, the ledger, the rail. */
  treasury: TreasuryStore;
  ledger: LedgerStore;
  rails: RailProvider;
  sha256Hex: Sha256Hex;
  clock: Clock;
  logger: Logger;
  options: AsyncRunnerOptions;
}

export class AsyncBatchRunner {
  private readonly perClient = new Map<number, PQueue>();
  /** Batches whose throttled items wait until this time (so the pump does not spin on them). */
  private readonly heldUntil = new Map<string, number>();
  /** Runs (`<batch>.<generation>`) this runner has taken up since it started. */
  private readonly takenUp = new Set<string>();

  constructor(private readonly deps: RunnerDeps) {}

  /** Runs one slice of the batch's pending items (within [fromIndex, toIndex) when given). */
  async runSlice(batchId: string, range: { fromIndex?: number; toIndex?: number } = {}): Promise<SliceResult> {
    const { store, options, clock } = this.deps;
    const batch = await store.getBatch(batchId);
    if (!batch || batch.status !== "processing") return { more: false };
    await this.takeUp(batch);
    const { items, hasMore } = await store.listItems(batchId, { status: "pending", limit: options.sliceSize, ...range });
    if (items.length === 0) {
      // Nothing pending here: make sure a batch whose last outcomes were recorded is ended (a
      // crash between the last outcome and the end leaves it processing).
      await this.finish(batch);
      return { more: false };
    }

    const queue = this.queueFor(batch.clientId);
    const outcomes: ItemOutcome[] = [];
    let retryAt: number | undefined;
    await Promise.all(
      items.map((item) =>
        queue.add(async () => {
          const ran = await this.runOne(batch, item);
          if ("heldFor" in ran) {
            const at = clock.now() + ran.heldFor;
            retryAt = retryAt === undefined ? at : Math.min(retryAt, at);
          } else {
            outcomes.push(ran);
          }
        }),
      ),
    );
    outcomes.sort((a, b) => a.index - b.index);
    if (outcomes.length > 0) await this.record(batch, outcomes, new Map(items.map((it) => [it.index, it])));
    return { more: hasMore || retryAt !== undefined, retryAt };
  }

  /**
   * The background pump of the embedded store and Workers: expires stale building batches, then
   * runs one slice of every processing batch (a few at a time).
   */
  pump(): Pump {
    return async (now) => {
      await this.deps.store.expireBuilding(now, 100);
      await this.sweepEvents();
      const ids = await this.deps.store.batchesIn("processing", 20);
      let again = false;
      let soonest: number | null = null;
      for (const id of ids) {
        const held = this.heldUntil.get(id);
        if (held !== undefined && held > now) {
          soonest = soonest === null ? held : Math.min(soonest, held);
          continue;
        }
        this.heldUntil.delete(id);
        const r = await this.runSlice(id);
        if (r.retryAt !== undefined) {
          this.heldUntil.set(id, r.retryAt);
          soonest = soonest === null ? r.retryAt : Math.min(soonest, r.retryAt);
        } else if (r.more) {
          again = true;
        }
      }
      return again ? "now" : soonest;
    };
  }

  /**
   * The first slice this runner runs of a batch's run (a fresh start, a restart, or a BullMQ job taken
   * over from a killed instance): batch.started again, and whatever the batch owes, since the
   * process that started it may have died between a stored change and its event.
   */
  private async takeUp(batch: BatchRecord) {
    const run = `${batch.batchId}.${batch.runGeneration}`;
    if (this.takenUp.has(run)) return;
    if (!this.deps.batches.startedHere.delete(run)) await this.events().emit(startedEvent(batch, this.deps.clock.now()));
    await this.flushEvents(batch.batchId);
    // Forgetting only costs a harmless re-emit: keep the set small on a long-lived instance.
    if (this.takenUp.size >= REMEMBERED_RUNS) this.takenUp.clear();
    this.takenUp.add(run);
  }

  private async finish(batch: BatchRecord) {
    if (batch.succeededCount + batch.failedCount + batch.cancelledCount < batch.totalCount) return;
    await this.record(batch, [], new Map());
  }

  private queueFor(clientId: number): PQueue {
    let q = this.perClient.get(clientId);
    if (!q) {
      const { concurrency, ratePerClient } = this.deps.options;
      q = new PQueue({ concurrency, intervalCap: ratePerClient, interval: 1000 });
      this.perClient.set(clientId, q);
    }
    return q;
  }

  private async runOne(batch: BatchRecord, item: BatchItemRecord): Promise<ItemOutcome | { heldFor: number }> {
    // A payout item has no token (the client pays from its treasury): only the per-client rate applies.
    if (item.call === PAYOUT_CALL) {
      const { treasury, ledger, rails, clock, sha256Hex, logger, options } = this.deps;
      return runPayoutItem(batch, item, { treasury, ledger, rails, clock, sha256Hex, logger, railTimeoutMs: options.railTimeoutMs });
    }
    const ref = await effectRef(this.deps.sha256Hex, { batchRef: `abatch:${batch.batchId}`, index: item.index });
    const outcome = await this.deps.engine.runItem(
      { call: item.call, tokenHash: item.tokenHash, reference_id: item.referenceId ?? undefined, parameters: JSON.parse(item.parameters) as unknown },
      { requestId: `${batch.batchId}:${item.index}`, logger: this.deps.logger },
      ref,
    );
    // Over the token's rate limit: the item waits (still pending) rather than failing.
    if (outcome.rate && !outcome.rate.allowed) return { heldFor: Math.max(1, outcome.rate.resetSeconds) * 1000 };
    const r = outcome.result;
    return { index: item.index, attempt: item.attempt, status: r.status < 400 ? "succeeded" : "failed", httpStatus: r.status, response: r.response };
  }

  private async record(batch: BatchRecord, outcomes: ItemOutcome[], meta: Map<number, BatchItemRecord>) {
    const { store, clock } = this.deps;
    const out = await store.recordOutcomes(batch.batchId, outcomes, clock.now(), terminalStatus);
    if (!out) return;
    const recorded = new Set(out.recorded);
    const done = outcomes.filter((o) => recorded.has(o.index));
    const now = clock.now();
    await Promise.all(done.map((o) => this.emitItem(batch, o.index, meta.get(o.index), o, now)));
    await store.eventsEmitted(batch.batchId, done, null);
    const b = out.batch;
    if (TERMINAL_STATUSES.includes(b.status) && b.status !== batch.status) {
      this.takenUp.delete(`${b.batchId}.${b.runGeneration}`);
      // Other slices' owed item events go out before the digest, which is emitted (and cleared) there.
      await this.flushEvents(b.batchId);
      // A batch cancelled while this slice ran owes no digest; it gets one, best effort, as it ends.
      if (b.status === "cancelled") await this.emitDigest(b, now);
    } else {
      await this.flushEvents(b.batchId);
    }
  }

  /**
   * Emits what the batch owes (see BatchStore.eventsOwed): the events of items whose outcome is
   * recorded but whose emit may have been cut short by a crash, then the digest of a run that ended.
   * Emitting again is harmless (the outbox keeps one message per endpoint and event id), so this runs
   * at every slice's end, when a runner first takes up a batch, and from the pumps' sweep.
   */
  async flushEvents(batchId: string): Promise<void> {
    const { store, clock } = this.deps;
    for (;;) {
      const owed = await store.eventsOwed(batchId, FLUSH_PAGE);
      const batch = owed.items.length > 0 || owed.digestRun !== null ? await store.getBatch(batchId) : null;
      if (!batch) return;
      const now = clock.now();
      // Every finished attempt: an older one's event may be owed too if a retry came before the flush.
      await Promise.all(owed.items.flatMap((it) => it.attempts.map((a) => this.emitItem(batch, it.index, it, a, now))));
      const moreItems = owed.items.length === FLUSH_PAGE;
      let digestRun: number | null = null;
      if (!moreItems && owed.digestRun !== null) {
        // A run still processing ends first (its digest then goes out); an older run's digest, overtaken
        // by a retry, no longer has its counts and is dropped.
        if (batch.status === "processing" && owed.digestRun === batch.runGeneration) return this.clearItems(batch, owed.items);
        if (owed.digestRun === batch.runGeneration && ENDED.includes(batch.status)) await this.emitDigest(batch, now);
        digestRun = owed.digestRun;
      }
      await store.eventsEmitted(batchId, owed.items.map((it) => ({ index: it.index, attempt: it.attempt })), digestRun);
      if (!moreItems) return;
    }
  }

  /** The pumps' sweep: flushes the events of batches that owe some (after a crash, or a run ended elsewhere). */
  async sweepEvents(limit = 50): Promise<void> {
    for (const id of await this.deps.store.batchesOwingEvents(limit)) await this.flushEvents(id);
  }

  private async clearItems(batch: BatchRecord, items: BatchItemRecord[]) {
    await this.deps.store.eventsEmitted(batch.batchId, items.map((it) => ({ index: it.index, attempt: it.attempt })), null);
  }

  /** The sink itself: an emit that fails throws, so its owed mark stays and it is emitted later. */
  private events() {
    return this.deps.batches.deps.events;
  }

  private emitItem(batch: BatchRecord, index: number, m: BatchItemRecord | undefined, o: { attempt: number; status: "succeeded" | "failed"; httpStatus: number; response: unknown }, now: number) {
    return this.events().emit({
      id: `evt_${batch.batchId}_${index}_${o.attempt}`,
      clientId: batch.clientId,
      type: o.status === "succeeded" ? "batch.item.completed" : "batch.item.failed",
      data: {
        batch_id: batch.batchId,
        customer_batch_id: batch.customerBatchId,
        index,
        attempt: o.attempt,
        reference_id: m?.referenceId ?? null,
        metadata: m?.metadata ? (JSON.parse(m.metadata) as unknown) : null,
        call: m?.call ?? null,
        ...(m && isPayoutItem(m) ? { type: "payout", ...payoutEcho(m), ...payoutOutcome(o.response) } : { type: "call" }),
        status: o.status,
        http_status: o.httpStatus,
        response: o.response,
      },
      createdAt: now,
    });
  }

  private emitDigest(b: BatchRecord, now: number) {
    return this.events().emit({
      id: `evt_${b.batchId}_completed_${b.runGeneration}`,
      clientId: b.clientId,
      type: "batch.completed",
      data: {
        batch_id: b.batchId,
        customer_batch_id: b.customerBatchId,
        label: b.label,
        status: b.status,
        total_count: b.totalCount,
        succeeded_count: b.succeededCount,
        failed_count: b.failedCount,
        cancelled_count: b.cancelledCount,
        completed_at: b.completedAt === null ? null : new Date(b.completedAt).toISOString(),
      },
      createdAt: now,
    });
  }
}
