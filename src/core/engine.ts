/**
 * @module
 * The batch engine: runs calls against registered handlers with a per-batch concurrency limit,
 * a process-wide in-flight cap, a timeout per call and a deadline per batch. Every call ends as
 * exactly one result, in request order; a failure is a result, never an exception.
 */
import type { ZodError } from "zod";
import type { RateDecision, RateLimiter } from "../ports/rate-limiter.js";
import { StoreUnavailableError } from "../ports/errors.js";
import type { Logger } from "../ports/runtime.js";
import type { AuthSession, Authenticator } from "./auth.js";
import { effectRef } from "./effect-ref.js";
import type { Idempotency, IdempotencyClaim } from "./idempotency.js";
import { type ClassicError, type ErrorCode, GatewayError, toClassicError, ERROR_CATALOG } from "./errors.js";
import type { CallContext, CallServices, HandlerDef, HandlerLookup, Principal } from "./call-contract.js";

export interface CallRequest {
  call: string;
  authorization?: string;
  reference_id?: string;
  parameters?: unknown;
  /** Extension: the call's own idempotency key, scoped to the API client. */
  idempotency_key?: string;
}

/** A call stored in an asynchronous batch: its token by hash only. */
export interface StoredCall {
  call: string;
  tokenHash: string;
  reference_id?: string;
  parameters?: unknown;
}

/** A stored call (an asynchronous batch's item): its token known only by its SHA-256 hash. */
export interface StoredCall {
  call: string;
  tokenHash: string;
  reference_id?: string;
  parameters?: unknown;
}

export interface CallResult {
  call: string;
  reference_id: string | null;
  status: number;
  response: unknown;
  /** Present (true) only when the result was replayed from the call's idempotency_key. */
  replayed?: true;
}

/** A call's result plus what the routes need for headers and idempotency. */
export interface CallOutcome {
  result: CallResult;
  /** The per-token limiter's decision, when the call carried a token. */
  rate?: RateDecision;
  /** Whether the handler ran (false: rejected before execution, or replayed). */
  executed: boolean;
  /**
   * The handler's own final result. Equal to `result` unless the call timed out: then it
   * settles when the handler does, so an idempotency record can hold the real outcome.
   */
  settled: Promise<CallResult>;
}

export interface EngineOptions {
  batchConcurrency: number;
  callTimeoutMs: number;
  batchDeadlineMs: number;
}

/** Told each call's result as it is answered (metrics); must be cheap and must not throw. */
export interface CallObserver {
  /** durationMs: from the call's start to its result; undefined for a call the batch deadline cut off. */
  callFinished(result: CallResult, durationMs: number | undefined): void;
}

export interface EngineDeps {
  handlers: HandlerLookup;
  auth: Authenticator;
  tokenLimiter: RateLimiter;
  services: CallServices;
  /**
   * Process-wide cap on calls executing at once, shared by every batch and single call: its
   * `concurrency` (a PQueue or a plain object) sizes the engine's own counter.
   */
  inflight: { readonly concurrency: number };
  /** Runs synchronous reads in one read transaction (Store.readSnapshot); default: just runs them. */
  readSnapshot?: <T>(fn: () => T) => T;
  options: EngineOptions;
  observer?: CallObserver;
}

export interface RunContext {
  requestId: string;
  logger: Logger;
  /** Per-call idempotency keys are honoured when set (batch calls: the client's scope). */
  idempotency?: { service: Idempotency; scope: string };
  /** The whole batch ran under an Idempotency-Key: call i's effects are named from this ref. */
  batchRef?: string;
  /** A single call ran under an Idempotency-Key: its effects are named from this ref. */
  callRef?: string;
  /**
   * Called with the batch's session once the credentials version is read (inside the admission's
   * read snapshot when there is one), before any call is admitted; what it throws rejects the
   * batch, with nothing admitted, charged or run (Authenticator.verifyBatchClient).
   */
  confirm?: (session: AuthSession | undefined) => void;
}

/** A call that passed its checks: ready for its handler. */
interface Admitted {
  handler: HandlerDef;
  params: unknown;
  principal: Principal | null;
  rate: RateDecision | undefined;
  tokenHash: string;
}

/** An admitted call, or the outcome of one refused before its handler. */
type Admission = Admitted | CallOutcome;

/** A call's end as the engine sees it: its result (by timeout or deadline if need be), once. */
type Deliver = (index: number, result: CallResult, executed: boolean, settled: Promise<CallResult>) => void;

/** A handler still running, as its timeout and the batch deadline see it. */
interface Running {
  done: boolean;
  stop(code: "call_timeout" | "batch_deadline_exceeded"): void;
}

/**
 * Handlers started in one synchronous burst share one start instant, hence one timeout timer:
 * when it fires, every one of them still running times out.
 */
interface Burst {
  running: Running[];
  pending: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** A running batch: whether its deadline passed, and its bursts (to stop what still runs). */
interface BatchState {
  deadlinePassed: boolean;
  bursts: Burst[];
}

/**
 * The process-wide in-flight counter. A slot freed while batches wait goes to the longest
 * waiting one, so no batch starves.
 */
class InflightLimit {
  active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly max: number) {}

  tryAcquire(): boolean {
    if (this.active >= this.max) return false;
    this.active++;
    return true;
  }

  /** Batches and single calls waiting for a slot (each waits for one call's slot at a time). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Calls `onSlot` once a slot is handed over (the caller then owns it). */
  wait(onSlot: () => void): void {
    this.waiters.push(onSlot);
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }
}

export class BatchEngine {
  private readonly inflight: InflightLimit;
  private readonly snapshot: <T>(fn: () => T) => T;

  constructor(private readonly deps: EngineDeps) {
    this.inflight = new InflightLimit(deps.inflight.concurrency);
    this.snapshot = deps.readSnapshot ?? ((fn) => fn());
  }

  /** Calls executing now, under the process-wide cap (the in-flight gauge). */
  get inflightCalls(): number {
    return this.inflight.active;
  }

  /** Batches and single calls waiting for a place under the cap (the queued gauge). */
  get queuedCalls(): number {
    return this.inflight.waiting;
  }

  /**
   * Runs one stored item of an asynchronous batch. Its token is known only by its hash and is
   * checked again now (a token revoked or expired since the item was added fails invalid_token),
   * with the per-token rate limit applied; `ref` names the item's effects. Resolves with the
   * handler's own final outcome (a timed-out item's money may still have moved), holding its
   * in-flight place until then.
   */
  async runItem(item: StoredCall, ctx: RunContext, ref: string): Promise<CallOutcome> {
    const call: CallRequest = { call: item.call, reference_id: item.reference_id, parameters: item.parameters };
    const handler = this.deps.handlers.get(call.call);
    let a: Admission;
    if (!handler) a = rejected(failure(call, "unknown_call", `No call named ${JSON.stringify(call.call)} is registered.`));
    else if (item.tokenHash === "") {
      a = handler.auth !== "none" ? rejected(this.errorResult(call, new GatewayError("missing_authorization"), ctx)) : this.checkParams(handler, call, null, undefined, "");
    } else a = await this.admitToken(handler, call, item.tokenHash, undefined, ctx);
    if ("result" in a) return a;
    const admitted = a;
    if (!this.inflight.tryAcquire()) await new Promise<void>((r) => this.inflight.wait(r));
    return new Promise<CallOutcome>((resolve) => {
      this.execute(0, call, admitted, ctx, undefined, ref, null, (_i, _result, executed, settled) => {
        void settled.then((final) => {
          this.inflight.release();
          resolve({ result: final, rate: admitted.rate, executed, settled });
        });
      });
    });
  }

  /**
   * Runs every call; resolves with one result per call, in order, by the batch deadline.
   *
   * The credentials version is read once; then every call is admitted (token hashed, charged to
   * its rate limit, principal resolved, scope and parameters checked) in one synchronous pass
   * under one read snapshot, with no promise per call when the ports answer synchronously.
   * Admitted calls then run, at most `batchConcurrency` at once and within the in-flight cap;
   * handlers started in the same pass share one timeout timer.
   */
  runBatch(calls: readonly CallRequest[], ctx: RunContext): Promise<CallResult[]> {
    const { batchConcurrency, batchDeadlineMs } = this.deps.options;
    const n = calls.length;
    const results: (CallResult | undefined)[] = new Array(n);
    const started: boolean[] = new Array(n).fill(false);
    const admitted: (Admitted | undefined)[] = new Array(n);
    const batch: BatchState = { deadlinePassed: false, bursts: [] };
    const observer = this.deps.observer;
    const startedAt: number[] | undefined = observer ? new Array(n) : undefined;
    const batchStart = observer ? performance.now() : 0;

    return new Promise<CallResult[]>((resolve, reject) => {
      let ended = false;
      let next = 0;
      let active = 0;
      let remaining = n;
      let waitingForSlot = false;
      /** A slot handed over by the in-flight cap, not yet used by a call. */
      let heldSlot = false;
      let pumpQueued = false;
      let wave = 0;
      let rechecking = false;
      /** The credentials version the batch's calls were admitted under (undefined: unknown). */
      let session: AuthSession | undefined;

      const end = () => {
        if (ended) return;
        ended = true;
        clearTimeout(deadline);
        resolve(
          calls.map((call, i) => {
            const done = results[i];
            if (done) return done;
            const cut = failure(
              call,
              "batch_deadline_exceeded",
              started[i]
                ? "The batch deadline passed before this call finished."
                : "The batch deadline passed before this call was reached; it did not run.",
            );
            observer?.callFinished(cut, undefined);
            return cut;
          }),
        );
      };
      const deadline = setTimeout(() => {
        batch.deadlinePassed = true;
        for (const burst of batch.bursts) for (const r of burst.running) if (!r.done) r.stop("batch_deadline_exceeded");
        end();
      }, batchDeadlineMs);

      const settle = (i: number, r: CallResult) => {
        if (!batch.deadlinePassed) {
          results[i] = r;
          observer?.callFinished(r, performance.now() - (startedAt![i] ?? batchStart));
        }
        if (--remaining === 0) end();
      };
      const onHandlerDone: Deliver = (i, r) => {
        active--;
        this.inflight.release();
        settle(i, r);
        // Calls finishing together start the next ones in one burst.
        if (!pumpQueued && next < n && !ended) {
          pumpQueued = true;
          queueMicrotask(pump);
        }
      };
      /** Starts admitted call i (its in-flight slot and its place in the batch already taken). */
      const startOne = (i: number, burst: Burst) => {
        started[i] = true;
        if (startedAt) startedAt[i] = performance.now();
        const ref = ctx.batchRef ? effectRef(this.hash, { batchRef: ctx.batchRef, index: i }) : undefined;
        if (ref instanceof Promise) {
          ref.then(
            (h) => this.execute(i, calls[i], admitted[i]!, ctx, batch, h, null, onHandlerDone),
            (e: unknown) => onHandlerDone(i, this.errorResult(calls[i], e, ctx), false, Promise.resolve(this.errorResult(calls[i], e, ctx))),
          );
        } else {
          this.execute(i, calls[i], admitted[i]!, ctx, batch, ref, burst, onHandlerDone);
        }
      };
      /** Whether a call not yet started acts for a user (its principal is re-checked before it starts). */
      const userCallWaiting = () => {
        for (let j = next; j < n; j++) if (admitted[j]?.principal) return true;
        return false;
      };
      /**
       * Calls queued behind the first wave were admitted at the batch's start: before any of them
       * starts, the credentials version is read again, and if a token was revoked or changed
       * meanwhile, every waiting call's principal is resolved again (a revoked token's calls then
       * fail invalid_token). Resolves true when the wave may start now.
       */
      const recheck = (fresh: AuthSession | undefined): boolean | Promise<unknown> => {
        if (fresh !== undefined && session !== undefined && fresh.version === session.version) return true;
        session = fresh;
        const pending: Promise<unknown>[] = [];
        for (let j = next; j < n; j++) {
          const a = admitted[j];
          if (!a?.principal) continue;
          const drop = (e: unknown) => {
            admitted[j] = undefined;
            settle(j, this.errorResult(calls[j], e, ctx));
          };
          try {
            const p = this.deps.auth.principalFor(a.tokenHash, fresh);
            if (p instanceof Promise) pending.push(p.then((q) => void (a.principal = q), drop));
            else a.principal = p;
          } catch (e) {
            drop(e);
          }
        }
        return pending.length === 0 ? true : Promise.all(pending);
      };
      const pump = () => {
        pumpQueued = false;
        if (rechecking) return;
        if (ended || batch.deadlinePassed) {
          if (heldSlot) {
            heldSlot = false;
            this.inflight.release();
          }
          return;
        }
        if (wave === 0 || !userCallWaiting()) return startWave();
        rechecking = true;
        const resume = () => {
          rechecking = false;
          pump0();
        };
        this.deps.auth.session().then(
          (fresh) => {
            const r = recheck(fresh);
            if (r === true) resume();
            else (r as Promise<unknown>).then(resume);
          },
          () => {
            const r = recheck(undefined);
            if (r === true) resume();
            else (r as Promise<unknown>).then(resume);
          },
        );
      };
      /** pump() after a recheck: the wave starts without reading the version again. */
      const pump0 = () => {
        if (ended || batch.deadlinePassed) {
          if (heldSlot) {
            heldSlot = false;
            this.inflight.release();
          }
          return;
        }
        startWave();
      };
      /** True while the first wave starts inside the admission's read snapshot. */
      let inAdmission = false;
      /** That first wave's writers and burst: started and armed once the snapshot has ended. */
      let deferredWave: { burst: Burst; writers: number[] } | undefined;
      /** Runs call i to its end now, inside the current read snapshot (its slot stays held for the next call). */
      const runInline = (i: number, a: Admitted) => {
        started[i] = true;
        if (startedAt) startedAt[i] = performance.now();
        heldSlot = true;
        settle(i, this.runInline(calls[i], a, ctx));
      };
      const startWave = () => {
        wave++;
        const burst: Burst = { running: [], pending: 0, timer: undefined };
        // Writing handlers start after the read snapshot has ended: never inside a read transaction.
        const writers: number[] = [];
        const fill = () => {
          while (active < batchConcurrency && !waitingForSlot) {
            while (next < n && admitted[next] === undefined) next++;
            if (next >= n) break;
            if (heldSlot) heldSlot = false;
            else if (!this.inflight.tryAcquire()) {
              waitingForSlot = true;
              this.inflight.wait(() => {
                waitingForSlot = false;
                heldSlot = true;
                pump();
              });
              break;
            }
            const i = next++;
            const a = admitted[i]!;
            // A read-only call the store can answer synchronously runs to its end here, so its
            // place in the batch is free again at once; the others count until they finish.
            if (a.handler.readOnly && this.canRunInline(a, calls[i])) runInline(i, a);
            else {
              active++;
              if (a.handler.readOnly) startOne(i, burst);
              else writers.push(i);
            }
          }
        };
        if (inAdmission) {
          fill();
          deferredWave = { burst, writers };
          return;
        }
        if (readerAhead()) {
          // Read-only handlers start inside one read snapshot: their first reads share a transaction.
          let filled = false;
          this.inSnapshot(ctx, () => {
            filled = true;
            fill();
          });
          // The snapshot could not begin: start the calls without it.
          if (!filled) fill();
        } else {
          fill();
        }
        endWave(burst, writers);
      };
      /** Whether a call not yet started is read-only (worth a read snapshot). */
      const readerAhead = () => {
        for (let j = next; j < n; j++) if (admitted[j]?.handler.readOnly) return true;
        return false;
      };
      /** After a wave's read snapshot: a held place goes back, the writers start, the timer is armed. */
      const endWave = (burst: Burst, writers: number[]) => {
        if (heldSlot) {
          heldSlot = false;
          this.inflight.release();
        }
        for (const i of writers) startOne(i, burst);
        this.armBurst(burst, batch);
      };
      const finishDeferredWave = () => {
        const d = deferredWave;
        deferredWave = undefined;
        if (d) endWave(d.burst, d.writers);
      };

      /** Admits every call; true when all were admitted synchronously (pump() is then the caller's). */
      const admitAll = (admittedUnder: AuthSession | undefined): boolean => {
        session = admittedUnder;
        if (ended) return false;
        if (ctx.confirm) {
          try {
            ctx.confirm(admittedUnder);
          } catch (e) {
            ended = true;
            clearTimeout(deadline);
            reject(e);
            return false;
          }
        }
        let waiting = 0;
        const admit = (i: number, a: Admission) => {
          if ("result" in a) settle(i, a.result);
          else admitted[i] = a;
        };
        const pass: (Admission | Promise<Admission>)[] = [];
        const admitRest = () => {
          while (pass.length < n) pass.push(this.admit(calls[pass.length], admittedUnder, ctx));
        };
        this.inSnapshot(ctx, admitRest);
        // The snapshot could not begin: admit the rest without it (each call exactly once).
        admitRest();
        for (let i = 0; i < n; i++) {
          const a = pass[i];
          if (a instanceof Promise) {
            waiting++;
            a.then((x) => {
              admit(i, x);
              if (--waiting === 0 && !ended) pump();
            });
          } else {
            admit(i, a);
          }
        }
        return waiting === 0 && !ended;
      };
      if (n === 0) return end();
      const auth = this.deps.auth;
      if (auth.hasSyncSession) {
        // The version is read inside the admission's read snapshot (the same transaction as any
        // token read after it), without a promise, and the first wave's read-only handlers start
        // in that same snapshot. Writing handlers start after it ends: a writing handler never
        // runs inside a read transaction.
        let admittedOnce = false;
        const readAndAdmit = () => {
          admittedOnce = true;
          let s: AuthSession | undefined;
          try {
            s = auth.sessionSync();
          } catch {
            s = undefined;
          }
          if (admitAll(s)) {
            inAdmission = true;
            try {
              pump();
            } finally {
              inAdmission = false;
            }
          }
        };
        this.inSnapshot(ctx, readAndAdmit);
        // The snapshot could not begin: read and admit without it.
        if (!admittedOnce) readAndAdmit();
        finishDeferredWave();
      } else {
        auth.session().then(
          (s) => admitAll(s) && pump(),
          () => admitAll(undefined) && pump(),
        );
      }
    });
  }

  /** Runs one call alone (POST /v2/<call>): same path as inside a batch, without a batch deadline. */
  async runSingle(call: CallRequest, ctx: RunContext): Promise<CallOutcome> {
    const t0 = performance.now();
    const outcome = await this.runAlone(call, ctx, ctx.callRef);
    this.deps.observer?.callFinished(outcome.result, performance.now() - t0);
    return outcome;
  }

  /**
   * Runs one call of an atomic batch (src/core/atomic.ts calls them one after another) and
   * resolves with the handler's real outcome: after a timeout, once the handler has settled, so
   * the saga knows whether there is something to compensate. `ref` names the call's effects.
   */
  async runOne(call: CallRequest, ctx: RunContext, ref?: string): Promise<CallResult> {
    const t0 = performance.now();
    const outcome = await this.runAlone(call, ctx, ref);
    this.deps.observer?.callFinished(outcome.result, performance.now() - t0);
    return outcome.settled;
  }

  /** Admits and runs one call outside a batch (its own timeout, no batch deadline). */
  private async runAlone(call: CallRequest, ctx: RunContext, ref: string | undefined): Promise<CallOutcome> {
    const a = await this.admit(call, undefined, ctx);
    if ("result" in a) return a;
    if (!this.inflight.tryAcquire()) await new Promise<void>((r) => this.inflight.wait(r));
    return new Promise<CallOutcome>((resolve) => {
      this.execute(0, call, a, ctx, undefined, ref, null, (_i, result, executed, settled) => {
        this.inflight.release();
        resolve({ result, rate: a.rate, executed, settled });
      });
    });
  }

  /** The runtime's SHA-256, bound once (effect refs are derived per call). */
  private readonly hash = (text: string) => this.deps.auth.hash(text);

  /**
   * Runs fn in the store's read snapshot. A snapshot that fails to begin or end (the store's
   * trouble, not a call's) is logged, not thrown: the caller finishes whatever fn did not.
   */
  private inSnapshot(ctx: RunContext, fn: () => void): void {
    try {
      this.snapshot(fn);
    } catch (e) {
      ctx.logger.warn({ err: errorSummary(e) }, "read snapshot failed");
    }
  }

  /** Starts the burst's timeout timer if any of its handlers is still running, and lets the deadline see it. */
  private armBurst(burst: Burst, batch: BatchState | undefined) {
    if (burst.pending === 0) return;
    batch?.bursts.push(burst);
    burst.timer = setTimeout(() => {
      for (const r of burst.running) if (!r.done) r.stop("call_timeout");
    }, this.deps.options.callTimeoutMs);
  }

  /**
   * Checks a call before its handler: registered, token hashed and charged to its rate limit,
   * principal and scope, parameters. Synchronous whenever the ports are (Node: hashing, the
   * in-memory limiter, a cached principal); a promise otherwise. Never throws or rejects.
   */
  private admit(call: CallRequest, session: AuthSession | undefined, ctx: RunContext): Admission | Promise<Admission> {
    const handler = this.deps.handlers.get(call.call);
    if (!handler) return rejected(failure(call, "unknown_call", `No call named ${JSON.stringify(call.call)} is registered.`));
    const token = call.authorization;
    if (token === undefined || token === "") {
      if (handler.auth !== "none") return rejected(this.errorResult(call, new GatewayError("missing_authorization"), ctx));
      return this.checkParams(handler, call, null, undefined, "");
    }
    let hash: string | Promise<string>;
    try {
      hash = this.deps.auth.hash(token);
    } catch (e) {
      return rejected(this.errorResult(call, e, ctx));
    }
    if (typeof hash !== "string") {
      return hash.then(
        (h) => this.admitToken(handler, call, h, session, ctx),
        (e: unknown) => rejected(this.errorResult(call, e, ctx)),
      );
    }
    return this.admitToken(handler, call, hash, session, ctx);
  }

  private admitToken(handler: HandlerDef, call: CallRequest, tokenHash: string, session: AuthSession | undefined, ctx: RunContext): Admission | Promise<Admission> {
    const limiter = this.deps.tokenLimiter;
    if (limiter.consumeSync) {
      let rate: RateDecision;
      try {
        rate = limiter.consumeSync(tokenHash, 1);
      } catch {
        return rejected(limiterUnavailable(call));
      }
      return this.admitRated(handler, call, tokenHash, rate, session, ctx);
    }
    return limiter.consume(tokenHash, 1).then(
      (rate) => this.admitRated(handler, call, tokenHash, rate, session, ctx),
      // The limiter's store failed (not a rejection): refuse the call rather than run it unlimited.
      () => rejected(limiterUnavailable(call)),
    );
  }

  private admitRated(
    handler: HandlerDef,
    call: CallRequest,
    tokenHash: string,
    rate: RateDecision,
    session: AuthSession | undefined,
    ctx: RunContext,
  ): Admission | Promise<Admission> {
    if (!rate.allowed) {
      return rejected(failure(call, "throttle_exceeded", `This access token is over its rate limit; retry in ${rate.resetSeconds} s.`), rate);
    }
    if (handler.auth !== "user") return this.checkParams(handler, call, null, rate, tokenHash);
    let principal: Principal | Promise<Principal>;
    try {
      principal = this.deps.auth.principalFor(tokenHash, session);
    } catch (e) {
      return rejected(this.errorResult(call, e, ctx), rate);
    }
    if (principal instanceof Promise) {
      return principal.then(
        (p) => this.checkParams(handler, call, p, rate, tokenHash),
        (e: unknown) => rejected(this.errorResult(call, e, ctx), rate),
      );
    }
    return this.checkParams(handler, call, principal, rate, tokenHash);
  }

  private checkParams(handler: HandlerDef, call: CallRequest, principal: Principal | null, rate: RateDecision | undefined, tokenHash: string): Admission {
    if (handler.scope && principal && !principal.scopes.has(handler.scope)) {
      return rejected(failure(call, "insufficient_scope", `This call needs the ${handler.scope} scope.`), rate);
    }
    const given = call.parameters ?? {};
    if (handler.accepts?.(given)) return { handler, params: given, principal, rate, tokenHash };
    const parsed = handler.schema.safeParse(given);
    if (!parsed.success) return rejected(failure(call, "invalid_parameters", describeZodError(parsed.error)), rate);
    return { handler, params: parsed.data, principal, rate, tokenHash };
  }

  /**
   * Runs an admitted call: its idempotency claim (or replay) when it carries a key, then its
   * handler. `burst` null: the handler gets its own timeout timer.
   */
  private execute(index: number, call: CallRequest, a: Admitted, ctx: RunContext, batch: BatchState | undefined, ref: string | undefined, burst: Burst | null, deliver: Deliver): void {
    if (call.idempotency_key !== undefined && ctx.idempotency) {
      void this.executeClaimed(index, call, a, ctx, batch, deliver, ctx.idempotency);
      return;
    }
    this.runHandler(index, a, call, ctx, batch, ref, burst, deliver);
  }

  private async executeClaimed(
    index: number,
    call: CallRequest,
    a: Admitted,
    ctx: RunContext,
    batch: BatchState | undefined,
    deliver: Deliver,
    idem: { service: Idempotency; scope: string },
  ): Promise<void> {
    const done = (r: CallResult) => deliver(index, r, false, Promise.resolve(r));
    let claim: IdempotencyClaim;
    let ref: string;
    try {
      const { service, scope } = idem;
      const key = call.idempotency_key!;
      const fingerprint = await service.fingerprint(call.call, a.tokenHash, call.parameters ?? {});
      const begun = await service.begin(scope, key, fingerprint);
      if (begun.kind === "replay") {
        return done({
          call: call.call,
          reference_id: call.reference_id ?? null,
          status: begun.response.status,
          response: JSON.parse(begun.response.body),
          replayed: true,
        });
      }
      claim = begun;
      ref = await service.effectRef({ scope, key, fingerprint });
    } catch (e) {
      return done(e instanceof GatewayError ? this.errorResult(call, e, ctx) : failure(call, "service_unavailable", "The idempotency store is unavailable; the call did not run."));
    }
    if (batch?.deadlinePassed) {
      // Reached after the deadline: it does not run, and its key is free for a retry.
      await claim.abandon().catch(() => undefined);
      return done(failure(call, "batch_deadline_exceeded", "The batch deadline passed before this call was reached; it did not run."));
    }
    const settled = this.runHandler(index, a, call, ctx, batch, ref, null, deliver);
    // Store the handler's real outcome, even when the caller was told it timed out.
    void settled
      .then((final) => claim.finish({ status: final.status, body: JSON.stringify(final.response) }))
      .catch((e: unknown) => ctx.logger.error({ call: call.call, err: String(e) }, "idempotency record not stored"));
  }

  /**
   * Starts the handler and delivers its result by the call's timeout or the batch deadline,
   * whichever comes first; returns `settled`, which resolves when the handler itself does.
   */
  private runHandler(
    index: number,
    a: Admitted,
    call: CallRequest,
    ctx: RunContext,
    batch: BatchState | undefined,
    ref: string | undefined,
    shared: Burst | null,
    deliver: Deliver,
  ): Promise<CallResult> {
    const burst: Burst = shared ?? { running: [], pending: 0, timer: undefined };
    const run = new HandlerRun(this, index, a, call, ctx, ref, burst, deliver);
    burst.running.push(run);
    burst.pending++;
    let settled: Promise<CallResult>;
    // The result is delivered in the same reaction that builds it: no further promise per call.
    // (Anonymous arrows: tsx's keepNames wraps only named functions, and a class field would be one per call.)
    try {
      settled = a.handler.run(a.params, run).then(
        (value) => {
          const r: CallResult = { call: call.call, reference_id: call.reference_id ?? null, status: 200, response: value };
          run.complete(r);
          return r;
        },
        (e: unknown) => {
          const r = this.errorResult(call, e, ctx);
          run.complete(r);
          return r;
        },
      );
    } catch (e) {
      settled = Promise.resolve(this.errorResult(call, e, ctx));
      settled.then((r) => run.complete(r));
    }
    run.settled = settled;
    if (!shared) this.armBurst(burst, batch);
    return settled;
  }

  /**
   * Whether an admitted call runs inline: its handler has a synchronous form, the store answers
   * reads synchronously, and no idempotency key needs claiming first.
   */
  private canRunInline(a: Admitted, call: CallRequest): boolean {
    return a.handler.runSync !== undefined && this.deps.services.ledger.sync !== undefined && call.idempotency_key === undefined;
  }

  /** Runs a call's synchronous form to its end; what it throws is its result, as for run(). */
  private runInline(call: CallRequest, a: Admitted, ctx: RunContext): CallResult {
    try {
      const value = a.handler.runSync!(a.params, { principal: a.principal, reads: this.deps.services.ledger.sync! });
      return { call: call.call, reference_id: call.reference_id ?? null, status: 200, response: value };
    } catch (e) {
      return this.errorResult(call, e, ctx);
    }
  }

  /** @internal For HandlerRun. */
  timeoutFailure(call: CallRequest): CallResult {
    return failure(call, "call_timeout", `The call did not finish within ${this.deps.options.callTimeoutMs} ms.`);
  }

  /** @internal For HandlerRun. */
  get services(): CallServices {
    return this.deps.services;
  }

  private errorResult(call: CallRequest, e: unknown, ctx: RunContext): CallResult {
    if (e instanceof GatewayError) return failure(call, e.code, e.message);
    if (e instanceof StoreUnavailableError) {
      ctx.logger.warn({ call: call.call, err: e.message }, "store unavailable");
      return failure(call, "service_unavailable", "The gateway's store is unavailable; retry later.");
    }
    ctx.logger.error(
      { request_id: ctx.requestId, call: call.call, reference_id: call.reference_id ?? null, err: errorSummary(e) },
      "handler threw",
    );
    return failure(call, "processing_error");
  }
}

/**
 * One running handler: its CallContext and its place in the burst. A class, so a call costs one
 * object rather than a handful of closures (tsx's keepNames wraps every closure it creates).
 */
class HandlerRun implements CallContext, Running {
  done = false;
  settled!: Promise<CallResult>;
  readonly principal: Principal | null;
  readonly authorization: string | null;
  readonly ref: string | null;
  readonly requestId: string;
  readonly logger: Logger;
  readonly services: CallServices;
  // The AbortController is made only if the handler reads ctx.signal (creating one costs more
  // than a whole lookup call); an abort before that hands it an already-aborted signal.
  private controller: AbortController | undefined;
  private abortReason: GatewayError | undefined;

  constructor(
    private readonly engine: BatchEngine,
    private readonly index: number,
    a: Admitted,
    private readonly call: CallRequest,
    ctx: RunContext,
    ref: string | undefined,
    private readonly burst: Burst,
    private readonly deliver: Deliver,
  ) {
    this.principal = a.principal;
    this.authorization = a.handler.auth === "forward" ? (call.authorization ?? null) : null;
    this.ref = ref ? ref.slice(0, 26) : null;
    this.requestId = ctx.requestId;
    this.logger = ctx.logger;
    this.services = engine.services;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  stop(code: "call_timeout" | "batch_deadline_exceeded"): void {
    const reason = new GatewayError(code);
    this.abortReason ??= reason;
    this.controller?.abort(reason);
    this.complete(code === "call_timeout" ? this.engine.timeoutFailure(this.call) : failure(this.call, "batch_deadline_exceeded"));
  }

  /** Delivers the call's result once: the handler's own, or its timeout's or deadline's. */
  complete(r: CallResult): void {
    if (this.done) return;
    this.done = true;
    if (--this.burst.pending === 0) clearTimeout(this.burst.timer);
    this.deliver(this.index, r, true, this.settled);
  }
}

/** An outcome for a call whose handler did not run. */
function rejected(result: CallResult, rate?: RateDecision): CallOutcome {
  return { result, rate, executed: false, settled: Promise.resolve(result) };
}

function limiterUnavailable(call: CallRequest): CallResult {
  return failure(call, "service_unavailable", "The rate limiter is unavailable; the call did not run.");
}

function failure(call: CallRequest, code: ErrorCode, message?: string): CallResult {
  const response: ClassicError = toClassicError(code, message);
  return { call: call.call, reference_id: call.reference_id ?? null, status: ERROR_CATALOG[code].status, response };
}

/** Names the first failing field: `parameters.amount: must be a decimal string`. */
export function describeZodError(error: ZodError, root = "parameters"): string {
  const issue = error.issues[0];
  if (!issue) return "The parameters are invalid.";
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length ? `${root}.${issue.path.join(".")}` : root;
    return `${where}: unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  }
  const path = [root, ...issue.path.map(String)].join(".");
  return `${path}: ${issue.message}`;
}

function errorSummary(e: unknown): { name: string; message: string; stack?: string } {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: "NonError", message: String(e) };
}
