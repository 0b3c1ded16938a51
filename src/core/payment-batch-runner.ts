/**
 * @module
 * Runs atomic payment batches as a journaled saga: the intent is stored first (every item with
 * the payment id it will use), each payment is journaled before it is asked for and after it
 * answered, and when any payment fails every payment that had succeeded is reversed, newest
 * first. Payments run one after another: a rollback must know exactly which payments exist, and
 * a later payment must not race the reversal of an earlier one for the same money.
 *
 * Crash safety: the runner holds a lease on the batch, renewed every third of it. A batch whose
 * lease lapsed (its runner died) is taken over by recover(), on start and then periodically, by
 * any live instance: it looks up each item's payment by its deterministic id, records success if
 * every payment stands, and otherwise reverses the ones that exist. A runner that finds it lost
 * its lease right after a payment reverses that payment itself, since the taker may have looked
 * before it existed.
 */
import type { LedgerStore } from "../ports/ledger.js";
import type { Metrics } from "../ports/metrics.js";
import type { PaymentBatchStore } from "../ports/payment-batches.js";
import type { Clock, Logger } from "../ports/runtime.js";
import { GatewayError } from "./errors.js";
import { itemErrorCode, type JournalItem, type PaymentBatchJournal } from "./payment-batch.js";

/** Test-only fault injection, built by the Node entry point from BATCHGATE_TEST_FAULT under NODE_ENV=test. */
export interface PaymentBatchFaults {
  /** Called after the n-th payment of a batch was made and journaled. */
  afterPayment?(n: number): void;
}

export interface PaymentBatchRunnerDeps {
  store: PaymentBatchStore;
  ledger: LedgerStore;
  clock: Clock;
  logger: Logger;
  leaseMs: number;
  /** Counts reversals that failed (batchgate_manual_action_required_total) when present. */
  metrics?: Metrics;
  faults?: PaymentBatchFaults;
  /** Called when a batch starts, so the recovery pump is scheduled for its lease (the alarm on Workers). */
  onBatchStarted?: () => void;
}

class LeaseLost extends Error {}

export class PaymentBatchRunner {
  /** This runner's identity as a lease owner. */
  readonly owner = crypto.randomUUID();

  constructor(private readonly deps: PaymentBatchRunnerDeps) {}

  /**
   * Journals the intent and runs the batch to its end. Returns the final journal; a batch id
   * that exists already returns the stored one (running: idempotency_key_in_use).
   */
  async run(intent: PaymentBatchJournal): Promise<PaymentBatchJournal> {
    const { store, clock, leaseMs } = this.deps;
    const created = await store.createBatch(intent, this.owner, clock.now(), leaseMs);
    if (created.ok) this.deps.onBatchStarted?.();
    if (!created.ok) {
      if (created.reason === "key_in_use") {
        throw new GatewayError("idempotency_key_in_use", `payments[${created.index}].idempotencyKey is held by a batch that is still running; retry later.`, undefined, {
          index: created.index,
          field: `payments[${created.index}].idempotencyKey`,
        });
      }
      if (created.journal.status === "running") throw new GatewayError("idempotency_key_in_use", "This batch is still running; retry later.");
      return created.journal;
    }
    return this.drive(created.journal, false);
  }

  /** Takes over batches whose runner's lease lapsed and finishes each; returns how many. */
  async recover(limit = 50): Promise<number> {
    const { store, clock, leaseMs, logger } = this.deps;
    const stale = await store.takeOverStale(this.owner, clock.now(), leaseMs, limit);
    for (const j of stale) {
      logger.warn({ batch_id: j.batchId }, "taking over an unfinished payment batch");
      try {
        await this.drive(await this.reconcile(j), true);
      } catch (e) {
        logger.error({ batch_id: j.batchId, err: String(e) }, "payment batch recovery failed; another attempt follows when the lease lapses");
      }
    }
    return stale.length;
  }

  /**
   * The background pump (services.background): takes over what lapsed, then sleeps until the
   * earliest lease of a running batch ends, or until woken when a batch starts.
   */
  async recoveryPump(now: number): Promise<number | "now" | null> {
    if ((await this.recover()) > 0) return "now";
    const next = await this.deps.store.nextLeaseEnd();
    // takeOverStale takes leases that ended strictly before `now`.
    return next === null ? null : Math.max(now, next + 1);
  }

  /** Brings a taken-over journal in line with the ledger: which of its payments exist. */
  private async reconcile(j: PaymentBatchJournal): Promise<PaymentBatchJournal> {
    for (const item of j.items) {
      if (item.replayOf !== null) continue;
      const p = await this.deps.ledger.getPayment(item.paymentId);
      if (p?.status === "completed") {
        if (item.state !== "reversal_failed") item.state = "paid";
      } else if (p?.status === "reversed") {
        item.state = "reversed";
      } else if (item.state !== "failed") {
        item.state = "interrupted";
        item.error = itemErrorCode("interrupted");
      }
    }
    return j;
  }

  /** Pays every pending item in order, then commits or rolls back; journals every step. */
  private async drive(j: PaymentBatchJournal, recovering: boolean): Promise<PaymentBatchJournal> {
    const lease = this.keepLease(j.batchId);
    try {
      if (recovering) j.recovered = true;
      let made = 0;
      for (const item of j.items) {
        if (item.state !== "pending") continue;
        if (item.replayOf !== null) {
          item.state = "paid";
          continue;
        }
        item.state = "paying";
        await this.save(j);
        await this.pay(j, item);
        if ((item.state as string) === "paid") this.deps.faults?.afterPayment?.(++made);
      }
      const allStand = j.items.every((i) => i.state === "paid");
      if (!allStand) await this.rollBack(j);
      j.status = allStand ? "succeeded" : "rolled_back";
      await this.save(j);
      return j;
    } catch (e) {
      if (e instanceof LeaseLost) {
        // Someone else finishes this batch; what it says is the outcome.
        this.deps.logger.warn({ batch_id: j.batchId }, "payment batch lease lost; another runner finishes it");
        throw new GatewayError("service_unavailable", "The batch was taken over by recovery before it finished; read its outcome with GET /v1/payments/batch/{batchId}.");
      }
      throw e;
    } finally {
      lease.stop();
    }
  }

  private async pay(j: PaymentBatchJournal, item: JournalItem) {
    const { ledger, clock } = this.deps;
    const out = await ledger.transfer({
      paymentId: item.paymentId,
      userId: j.userId,
      fromWalletId: item.from,
      toWalletId: item.to,
      amount: item.amount,
      currency: item.currency,
      description: item.description,
      now: clock.now(),
    });
    if (out.ok) item.state = "paid";
    else {
      item.state = "failed";
      item.error = itemErrorCode(out.reason);
    }
    try {
      await this.save(j);
    } catch (e) {
      // The taker may have looked before this payment existed: undo it here, once.
      if (e instanceof LeaseLost && out.ok) await ledger.reversePayment(item.paymentId, clock.now());
      throw e;
    }
  }

  /** Reverses every payment of this batch that stands, newest first. */
  private async rollBack(j: PaymentBatchJournal) {
    const { ledger, clock } = this.deps;
    for (const item of [...j.items].reverse()) {
      if (item.state !== "paid" || item.replayOf !== null) continue;
      const out = await ledger.reversePayment(item.paymentId, clock.now());
      if (out.ok) item.state = "reversed";
      else if (out.reason === "payment_not_reversible") item.state = "reversed";
      else {
        item.state = "reversal_failed";
        item.reversalError = itemErrorCode(out.reason);
        this.manualActionRequired(j, item);
      }
      await this.save(j);
    }
  }

  /** The one place a failed reversal is reported: an error log line and the metrics counter. */
  private manualActionRequired(j: PaymentBatchJournal, item: JournalItem) {
    this.deps.logger.error(
      { batch_id: j.batchId, index: item.index, payment_id: item.paymentId, reason: item.reversalError },
      "payment batch reversal failed: manual action required",
    );
    this.deps.metrics?.inc("batchgate_manual_action_required_total", { kind: "payment_batch_reversal" });
  }

  private async save(j: PaymentBatchJournal) {
    const now = this.deps.clock.now();
    j.updatedAt = now;
    if (!(await this.deps.store.saveBatch(j, this.owner, now, this.deps.leaseMs))) throw new LeaseLost();
  }

  private keepLease(batchId: string): { stop(): void } {
    const { store, clock, leaseMs, logger } = this.deps;
    const timer = setInterval(() => {
      store.renewBatch(batchId, this.owner, clock.now(), leaseMs).catch((e: unknown) => logger.warn({ batch_id: batchId, err: String(e) }, "payment batch lease renewal failed"));
    }, Math.max(1, Math.floor(leaseMs / 3)));
    return { stop: () => clearInterval(timer) };
  }
}
