/**
 * @module
 * Asynchronous batches (`/v1/batches`, DESIGN §1.4): the state machine both stores obey, the
 * views the API answers with, and the service behind the routes. Execution is in
 * async-batch-runner.ts.
 *
 * Statuses: building → processing → completed | completed_with_failures | failed; building →
 * cancelled | expired; processing → cancelled; a retry moves completed_with_failures or failed
 * back to processing. Items: pending → succeeded | failed | cancelled; a retry makes a failed item
 * pending again with the next attempt number.
 */
import type {
  BatchItemRecord,
  BatchRecord,
  BatchStatus,
  AddItemsOutcome,
  BatchStore,
  ItemStatus,
  NewBatchItem,
} from "../ports/batches.js";
import type { EventSink, GatewayEvent } from "../ports/events.js";
import type { Clock, Logger } from "../ports/runtime.js";
import type { Authenticator } from "./auth.js";
import { parseItem, PAYOUT_CALL } from "./batch-item-input.js";
import type { HandlerLookup } from "./call-contract.js";
import { describeZodError } from "./engine.js";
import { GatewayError } from "./errors.js";
import { newId } from "./ids.js";
import { isoTime } from "./iso-time.js";

/** From each batch status, the statuses it may move to. */
export const BATCH_TRANSITIONS: Readonly<Record<BatchStatus, readonly BatchStatus[]>> = {
  building: ["processing", "cancelled", "expired"],
  processing: ["completed", "completed_with_failures", "failed", "cancelled"],
  completed_with_failures: ["processing"],
  failed: ["processing"],
  completed: [],
  cancelled: [],
  expired: [],
};

export function canMoveBatch(from: BatchStatus, to: BatchStatus): boolean {
  return BATCH_TRANSITIONS[from].includes(to);
}

/** The statuses a batch may be in for a move to `to`. */
export function batchStatusesBefore(to: BatchStatus): BatchStatus[] {
  return (Object.keys(BATCH_TRANSITIONS) as BatchStatus[]).filter((from) => canMoveBatch(from, to));
}

/** Where a retry is accepted (a completed batch answers ALREADY_COMPLETED for every item asked). */
export const RETRYABLE: readonly BatchStatus[] = ["completed", "completed_with_failures", "failed"];

export const TERMINAL_STATUSES: readonly BatchStatus[] = ["completed", "completed_with_failures", "failed", "cancelled", "expired"];

/** The status a processing batch ends in once no item is pending. */
export function terminalStatus(counts: { succeeded: number; failed: number; cancelled: number; total: number }): BatchStatus {
  if (counts.failed === 0 && counts.succeeded > 0) return "completed";
  if (counts.succeeded === 0 && counts.failed > 0) return "failed";
  if (counts.succeeded > 0) return "completed_with_failures";
  return "cancelled";
}

/** A building batch past its expiry counts as expired, whether or not the sweep has stored it yet. */
export function effectiveStatus(b: BatchRecord, now: number): BatchStatus {
  return b.status === "building" && b.expiresAt <= now ? "expired" : b.status;
}

export interface AsyncBatchLimits {
  maxItems: number;
  expiryMs: number;
}

/** The batch as the API shows it. */
export function batchView(b: BatchRecord, now: number) {
  const done = b.succeededCount + b.failedCount + b.cancelledCount;
  return {
    id: b.batchId,
    object: "batch" as const,
    status: effectiveStatus(b, now),
    label: b.label,
    idempotency_key: b.idempotencyKey,
    customer_batch_id: b.customerBatchId,
    metadata: b.metadata === null ? null : (JSON.parse(b.metadata) as unknown),
    total_count: b.totalCount,
    succeeded_count: b.succeededCount,
    failed_count: b.failedCount,
    cancelled_count: b.cancelledCount,
    pending_count: b.totalCount - done,
    percent_done: b.totalCount === 0 ? 0 : Math.floor((done * 10000) / b.totalCount) / 100,
    submitted_at: iso(b.submittedAt),
    completed_at: iso(b.completedAt),
    expires_at: b.status === "building" ? iso(b.expiresAt) : null,
    created_at: iso(b.createdAt)!,
    updated_at: iso(b.updatedAt)!,
  };
}

export type BatchView = ReturnType<typeof batchView>;

/** A payout item's stored parameters (see prepareItems). */
export interface PayoutParameters {
  user_id: string;
  amount: string;
  currency: string;
  rail: string;
  destination: Record<string, string> | null;
  customer_transaction_id: string;
}

export function isPayoutItem(it: Pick<BatchItemRecord, "call">): boolean {
  return it.call === PAYOUT_CALL;
}

/** What a payout item's result and events echo of its request. */
export function payoutEcho(it: BatchItemRecord) {
  // The submit side stores these parameters; a record that does not parse still renders (nulls).
  let p: Partial<PayoutParameters> = {};
  try {
    const v = JSON.parse(it.parameters) as unknown;
    if (v && typeof v === "object") p = v as Partial<PayoutParameters>;
  } catch {
    p = {};
  }
  return { customer_transaction_id: it.customerTransactionId ?? p.customer_transaction_id ?? null, user_id: p.user_id ?? null, amount: p.amount ?? null, currency: p.currency ?? null, rail: p.rail ?? null };
}

/** A payout attempt's outcome and error code, from its response (written by the payout executor). */
export function payoutOutcome(response: unknown): { outcome: string | null; error_code: string | null } {
  const r = typeof response === "object" && response !== null ? (response as Record<string, unknown>) : {};
  return { outcome: typeof r.outcome === "string" ? r.outcome : null, error_code: typeof r.error_code === "string" ? r.error_code : null };
}

/** One item's result as the API shows it; with `includeRequest`, its request (never its token) and metadata. */
export function itemView(it: BatchItemRecord, includeRequest: boolean, batch: Pick<BatchRecord, "customerBatchId">) {
  const last = it.status === "succeeded" || it.status === "failed" ? it.attempts[it.attempts.length - 1] : undefined;
  const payout = isPayoutItem(it);
  const view: Record<string, unknown> = {
    index: it.index,
    type: payout ? "payout" : "call",
    ...(payout ? { customer_batch_id: batch.customerBatchId, ...payoutEcho(it) } : {}),
    reference_id: it.referenceId,
    idempotency_key: it.idempotencyKey,
    call: it.call,
    status: it.status,
    attempt: it.attempt,
    http_status: last ? last.httpStatus : null,
    response: last ? last.response : null,
    attempts: it.attempts.map((a) => ({ attempt: a.attempt, status: a.status, http_status: a.httpStatus, response: a.response, finished_at: iso(a.finishedAt) })),
    updated_at: iso(it.updatedAt),
  };
  if (includeRequest) {
    view.request = { call: it.call, reference_id: it.referenceId, idempotency_key: it.idempotencyKey, parameters: JSON.parse(it.parameters) as unknown };
    view.metadata = it.metadata === null ? null : (JSON.parse(it.metadata) as unknown);
  }
  return view;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : isoTime(ms);
}

/** An item as the caller sends it: a call item or a payout item, checked here (src/core/batch-item-input.ts). */
export type ItemInput = unknown;

export interface CreateInput {
  label?: string;
  metadata?: Record<string, unknown>;
  idempotency_key?: string;
  /** 1–100 characters of [A-Za-z0-9._:-] (checked by the route); generated `cbt_…` when omitted. */
  customer_batch_id?: string;
  items?: ItemInput[];
  process?: boolean;
}

/** Starts running a batch that just moved to processing (wakes the pump, or enqueues jobs). */
export type BatchDispatch = (batch: BatchRecord) => Promise<void> | void;

export interface AsyncBatchDeps {
  store: BatchStore;
  handlers: HandlerLookup;
  auth: Authenticator;
  events: EventSink;
  clock: Clock;
  logger: Logger;
  limits: AsyncBatchLimits;
  /** Set by whichever runner executes batches in this process. */
  dispatch: BatchDispatch;
}

export function startedEvent(b: BatchRecord, now: number): GatewayEvent {
  return {
    id: `evt_${b.batchId}_started_${b.runGeneration}`,
    clientId: b.clientId,
    type: "batch.started",
    data: { batch_id: b.batchId, customer_batch_id: b.customerBatchId, label: b.label, total_count: b.totalCount, run: b.runGeneration },
    createdAt: now,
  };
}

/** What the routes call: every check, then one store operation. */
export class AsyncBatches {
  constructor(readonly deps: AsyncBatchDeps) {}

  async create(clientId: number, input: CreateInput): Promise<{ status: 200 | 201 | 202; batch: BatchView }> {
    const now = this.deps.clock.now();
    if (input.process && (!input.items || input.items.length === 0)) {
      throw new GatewayError("batch_not_processable", "process: true needs at least one item.");
    }
    const prepared = input.items ? await this.prepareItems(input.items, 0, now) : [];
    if (prepared.length > this.deps.limits.maxItems) {
      throw new GatewayError("batch_too_large", `A batch holds at most ${this.deps.limits.maxItems} items.`);
    }
    const record: BatchRecord = {
      batchId: newId("batch", now),
      clientId,
      status: "building",
      label: input.label ?? null,
      metadata: input.metadata === undefined ? null : JSON.stringify(input.metadata),
      idempotencyKey: input.idempotency_key ?? null,
      customerBatchId: input.customer_batch_id ?? newId("cbt", now),
      totalCount: 0,
      succeededCount: 0,
      failedCount: 0,
      cancelledCount: 0,
      runGeneration: 0,
      createdAt: now,
      updatedAt: now,
      submittedAt: null,
      completedAt: null,
      expiresAt: now + this.deps.limits.expiryMs,
    };
    const made = await this.deps.store.createBatch(record, prepared, this.deps.limits.maxItems);
    if ("reason" in made) this.refused(made, record.batchId, now);
    if (!made.created) return { status: 200, batch: batchView(made.batch, now) };
    const batch = made.batch;
    if (input.process) return { status: 202, batch: await this.startProcessing(clientId, batch.batchId) };
    return { status: 201, batch: batchView(batch, now) };
  }

  async addItems(clientId: number, batchId: string, items: ItemInput[]): Promise<BatchView> {
    const batch = await this.owned(clientId, batchId);
    const now = this.deps.clock.now();
    this.requireBuilding(batch, now);
    if (batch.totalCount + items.length > this.deps.limits.maxItems) {
      throw new GatewayError("batch_too_large", `A batch holds at most ${this.deps.limits.maxItems} items; it has ${batch.totalCount}.`);
    }
    const prepared = await this.prepareItems(items, batch.totalCount, now);
    return batchView(await this.append(batchId, prepared, now), now);
  }

  async process(clientId: number, batchId: string): Promise<BatchView> {
    await this.owned(clientId, batchId);
    return this.startProcessing(clientId, batchId);
  }

  async get(clientId: number, batchId: string): Promise<BatchView> {
    return batchView(await this.owned(clientId, batchId), this.deps.clock.now());
  }

  async list(clientId: number, q: { limit: number; starting_after?: string; ending_before?: string; status?: BatchStatus }) {
    if (q.starting_after !== undefined && q.ending_before !== undefined) {
      throw new GatewayError("invalid_query", "Give starting_after or ending_before, not both.");
    }
    const now = this.deps.clock.now();
    const page = await this.deps.store.listBatches(clientId, {
      limit: q.limit,
      startingAfter: q.starting_after,
      endingBefore: q.ending_before,
      status: q.status,
    });
    return { object: "list" as const, data: page.batches.map((b) => batchView(b, now)), has_more: page.hasMore };
  }

  async results(clientId: number, batchId: string, q: { limit: number; starting_after?: number; status?: ItemStatus; include_request: boolean }) {
    const batch = await this.owned(clientId, batchId);
    const page = await this.deps.store.listItems(batchId, { limit: q.limit, startingAfter: q.starting_after, status: q.status });
    return { object: "list" as const, data: page.items.map((it) => itemView(it, q.include_request, batch)), has_more: page.hasMore };
  }

  async retry(clientId: number, batchId: string, indexes: number[] | undefined) {
    const batch = await this.owned(clientId, batchId);
    if (indexes) {
      const bad = indexes.find((i) => i >= batch.totalCount);
      if (bad !== undefined) throw new GatewayError("not_found", `The batch has no item ${bad}.`, undefined, { index: bad });
    }
    const now = this.deps.clock.now();
    const out = await this.deps.store.retryFailed(batchId, RETRYABLE, indexes, now);
    if (!out) {
      const current = effectiveStatus((await this.deps.store.getBatch(batchId)) ?? batch, now);
      throw new GatewayError("batch_status_conflict", `A ${current} batch has no failed items to retry; retry a batch that completed with failures or failed.`);
    }
    const retried = new Set(out.retried);
    const items: Record<string, unknown>[] = [];
    if (indexes) {
      const rows = (await this.deps.store.listItems(batchId, { limit: indexes.length, indexes })).items;
      for (const it of rows) {
        items.push({
          index: it.index,
          reference_id: it.referenceId,
          outcome: retried.has(it.index) ? "RETRYING" : it.status === "succeeded" ? "ALREADY_COMPLETED" : it.status.toUpperCase(),
          attempt: it.attempt,
        });
      }
    }
    if (out.retried.length > 0) {
      await this.announceStart(out.batch);
      await this.deps.dispatch(out.batch);
    }
    return { batch: batchView(out.batch, now), retried_count: out.retried.length, items };
  }

  async cancel(clientId: number, batchId: string): Promise<BatchView> {
    const batch = await this.owned(clientId, batchId);
    const now = this.deps.clock.now();
    // An expired batch is final even before the sweep has stored it.
    const moved = effectiveStatus(batch, now) === "expired" ? null : await this.deps.store.moveBatch(batchId, batchStatusesBefore("cancelled"), "cancelled", now);
    if (!moved) {
      throw new GatewayError("batch_status_conflict", `A ${effectiveStatus(batch, now)} batch cannot be cancelled.`);
    }
    return batchView(moved, now);
  }

  /**
   * Runs (`<batch>.<generation>`) whose batch.started this process emitted: the runner taking the
   * run up emits it again only when it is not here (the process that started it may have died first).
   */
  readonly startedHere = new Set<string>();

  /** batch.started, once the batch is durably processing. */
  async announceStart(b: BatchRecord): Promise<void> {
    try {
      await this.deps.events.emit(startedEvent(b, this.deps.clock.now()));
      // Forgetting only costs a harmless re-emit (on STORE=redis another instance may run the batch).
      if (this.startedHere.size >= 10_000) this.startedHere.clear();
      this.startedHere.add(`${b.batchId}.${b.runGeneration}`);
    } catch (err) {
      this.deps.logger.error({ batch: b.batchId, err: err instanceof Error ? err.message : String(err) }, "batch.started not recorded; the runner emits it");
    }
  }

  private async startProcessing(clientId: number, batchId: string): Promise<BatchView> {
    const now = this.deps.clock.now();
    const batch = await this.owned(clientId, batchId);
    const status = effectiveStatus(batch, now);
    if (status === "processing") throw new GatewayError("batch_already_processing");
    if (status !== "building") throw new GatewayError("batch_not_processable", `The batch is ${status}, not building.`);
    if (batch.totalCount === 0) throw new GatewayError("batch_not_processable", "The batch has no items.");
    if (batch.totalCount > this.deps.limits.maxItems) {
      throw new GatewayError("batch_not_processable", `The batch has more than ${this.deps.limits.maxItems} items.`);
    }
    const moved = await this.deps.store.moveBatch(batchId, ["building"], "processing", now);
    if (!moved) {
      const again = await this.owned(clientId, batchId);
      if (again.status === "processing") throw new GatewayError("batch_already_processing");
      throw new GatewayError("batch_not_processable", `The batch is ${effectiveStatus(again, now)}, not building.`);
    }
    await this.announceStart(moved);
    await this.deps.dispatch(moved);
    return batchView(moved, now);
  }

  private async append(batchId: string, prepared: NewBatchItem[], now: number): Promise<BatchRecord> {
    const out = await this.deps.store.addItems(batchId, prepared, this.deps.limits.maxItems, now);
    if (out.ok) return out.batch;
    return this.refused(out, batchId, now);
  }

  private refused(out: Exclude<AddItemsOutcome, { ok: true }>, batchId: string, now: number): never {
    switch (out.reason) {
      case "not_found":
        throw new GatewayError("not_found", "No such batch.");
      case "not_building":
        throw new GatewayError("batch_not_processable", `Items can only be added while the batch is building; it is ${effectiveStatus(out.batch, now)}.`);
      case "too_many":
        throw new GatewayError("batch_too_large", `A batch holds at most ${this.deps.limits.maxItems} items.`);
      case "key_in_use": {
        const here = out.batchId === batchId;
        throw new GatewayError(
          here ? "duplicate_item_idempotency_key" : "item_idempotency_key_in_use",
          here
            ? `Item ${out.newIndex} reuses idempotency_key ${JSON.stringify(out.key)} of item ${out.index} of this batch.`
            : `Item ${out.newIndex}: idempotency_key ${JSON.stringify(out.key)} is already used by item ${out.index} of batch ${out.batchId}.`,
          undefined,
          here ? { index: out.newIndex, first_index: out.index } : { index: out.newIndex, batch_id: out.batchId, batch_index: out.index },
        );
      }
      case "ctx_in_use": {
        const here = out.batchId === batchId;
        const ctx = JSON.stringify(out.customerTransactionId);
        throw new GatewayError(
          here ? "duplicate_customer_transaction_id" : "customer_transaction_id_in_use",
          here
            ? `Item ${out.newIndex} reuses customer_transaction_id ${ctx} of item ${out.index} of this batch.`
            : `Item ${out.newIndex}: customer_transaction_id ${ctx} is already used by item ${out.index} of batch ${out.batchId}.`,
          undefined,
          here ? { index: out.newIndex, first_index: out.index } : { index: out.newIndex, batch_id: out.batchId, batch_index: out.index },
        );
      }
    }
  }

  private requireBuilding(b: BatchRecord, now: number) {
    const status = effectiveStatus(b, now);
    if (status !== "building") {
      throw new GatewayError("batch_not_processable", `Items can only be added while the batch is building; it is ${status}.`);
    }
  }

  private async owned(clientId: number, batchId: string): Promise<BatchRecord> {
    const b = await this.deps.store.getBatch(batchId);
    // Another client's batch is indistinguishable from a missing one.
    if (!b || b.clientId !== clientId) throw new GatewayError("not_found", "No such batch.");
    return b;
  }

  /**
   * Checks every item before anything is stored: its shape (call or payout item); for a call item
   * a registered call that does not need the raw token, valid parameters, a valid token (stored as
   * its hash with the principal it resolves to); for a payout item its amount, currency, rail and
   * destination, and a customer_transaction_id (generated when omitted); idempotency keys and
   * customer transaction ids unique in the request. `base` is the index of the first item.
   */
  private async prepareItems(items: ItemInput[], base: number, now: number): Promise<NewBatchItem[]> {
    const seen = new Map<string, number>();
    const seenCtx = new Map<string, number>();
    const out: NewBatchItem[] = [];
    for (let i = 0; i < items.length; i++) {
      const at = base + i;
      const bad = (message: string, code: "invalid_batch_item" | "invalid_token" = "invalid_batch_item", field = "") =>
        new GatewayError("invalid_batch_item", `items[${i}]: ${message}`, undefined, field ? { index: at, reason: code, field } : { index: at, reason: code });
      const shaped = parseItem(items[i]);
      if (!shaped.ok) throw bad(shaped.problem.message, "invalid_batch_item", shaped.problem.field);
      const key = shaped.parsed.item.idempotency_key;
      if (key !== undefined) {
        const first = seen.get(key);
        if (first !== undefined) {
          throw new GatewayError(
            "duplicate_item_idempotency_key",
            `Items ${first - base} and ${i} of this request use the same idempotency_key ${JSON.stringify(key)}.`,
            undefined,
            { index: at, first_index: first },
          );
        }
        seen.set(key, at);
      }
      if (shaped.parsed.kind === "payout") {
        const it = shaped.parsed.item;
        const ctx = it.customer_transaction_id ?? newId("ctx", now);
        const first = seenCtx.get(ctx);
        if (first !== undefined) {
          throw new GatewayError(
            "duplicate_customer_transaction_id",
            `Items ${first - base} and ${i} of this request use the same customer_transaction_id ${JSON.stringify(ctx)}.`,
            undefined,
            { index: at, first_index: first },
          );
        }
        seenCtx.set(ctx, at);
        const parameters: PayoutParameters = {
          user_id: it.user_id,
          amount: it.amount,
          currency: it.currency,
          rail: it.rail,
          destination: (it.destination as Record<string, string> | undefined) ?? null,
          customer_transaction_id: ctx,
        };
        out.push({
          call: PAYOUT_CALL,
          referenceId: it.reference_id ?? null,
          idempotencyKey: it.idempotency_key,
          parameters: JSON.stringify(parameters),
          customerTransactionId: ctx,
          metadata: it.metadata === undefined ? null : JSON.stringify(it.metadata),
          userId: it.user_id,
          scopes: [],
          tokenHash: "",
        });
        continue;
      }
      const it = shaped.parsed.item;
      const handler = this.deps.handlers.get(it.call);
      if (!handler) throw bad(`no call named ${JSON.stringify(it.call)} is registered`);
      if (handler.auth === "forward") throw bad(`${it.call} forwards the caller's token, which an asynchronous batch does not keep`);
      const parsed = handler.schema.safeParse(it.parameters ?? {});
      if (!parsed.success) throw bad(describeZodError(parsed.error));
      let tokenHash = "";
      let userId: string | null = null;
      let scopes: string[] = [];
      if (it.authorization !== undefined && it.authorization !== "") {
        tokenHash = await this.deps.auth.hash(it.authorization);
        try {
          const p = await this.deps.auth.principalFor(tokenHash);
          userId = p.userId;
          scopes = [...p.scopes];
        } catch (e) {
          if (e instanceof GatewayError && e.code === "invalid_token") throw bad("the access token is invalid, expired or revoked", "invalid_token");
          throw e;
        }
        if (handler.scope && !scopes.includes(handler.scope)) throw bad(`the access token lacks the ${handler.scope} scope`);
      } else if (handler.auth !== "none") {
        throw bad(`${it.call} needs an access token in authorization`);
      }
      out.push({
        call: it.call,
        referenceId: it.reference_id ?? null,
        idempotencyKey: it.idempotency_key ?? null,
        parameters: JSON.stringify(it.parameters ?? {}),
        customerTransactionId: null,
        metadata: it.metadata === undefined ? null : JSON.stringify(it.metadata),
        userId,
        scopes,
        tokenHash,
      });
    }
    return out;
  }
}
