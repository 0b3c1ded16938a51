/**
 * @module
 * The batch engine: runs calls against registered handlers with a per-batch concurrency limit,
 * a process-wide in-flight cap, a timeout per call and a deadline per batch. Every call ends as
 * exactly one result, in request order; a failure is a result, never an exception.
 */
import PQueue from "p-queue";
import type { ZodError } from "zod";
import type { RateDecision, RateLimiter } from "../ports/rate-limiter.js";
import { StoreUnavailableError } from "../ports/errors.js";
import type { Logger } from "../ports/runtime.js";
import type { Authenticator } from "./auth.js";
import { effectRef } from "./effect-ref.js";
import type { Idempotency, IdempotencyClaim } from "./idempotency.js";
import { type ClassicError, type ErrorCode, GatewayError, toClassicError, ERROR_CATALOG } from "./errors.js";
import type { CallContext, HandlerDef, HandlerLookup, CallServices, Principal } from "./call-contract.js";

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

export interface EngineDeps {
  handlers: HandlerLookup;
  auth: Authenticator;
  tokenLimiter: RateLimiter;
  services: CallServices;
  /** Process-wide cap on calls executing at once, shared by every batch and single call. */
  inflight: PQueue;
  options: EngineOptions;
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
}

/** A running batch: whether its deadline passed, and how to stop each call still running. */
interface BatchState {
  deadlinePassed: boolean;
  running: Set<() => void>;
}

export class BatchEngine {
  constructor(private readonly deps: EngineDeps) {}

  /** Runs every call; resolves with one result per call, in order, by the batch deadline. */
  async runBatch(calls: readonly CallRequest[], ctx: RunContext): Promise<CallResult[]> {
    const { batchConcurrency, batchDeadlineMs } = this.deps.options;
    const results: (CallResult | undefined)[] = new Array(calls.length);
    const started: boolean[] = new Array(calls.length).fill(false);
    const batch: BatchState = { deadlinePassed: false, running: new Set() };
    const queue = new PQueue({ concurrency: batchConcurrency });

    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        batch.deadlinePassed = true;
        queue.clear();
        for (const stop of batch.running) stop();
        resolve();
      }, batchDeadlineMs);
    });
    const all = Promise.all(
      calls.map((call, i) =>
        queue.add(() =>
          this.deps.inflight.add(async () => {
            if (batch.deadlinePassed) return;
            started[i] = true;
            const ref = ctx.batchRef ? await effectRef((text) => this.deps.auth.hash(text), { batchRef: ctx.batchRef, index: i }) : undefined;
            const outcome = await this.execute(call, ctx, batch, ref);
            if (!batch.deadlinePassed) results[i] = outcome.result;
          }),
        ),
      ),
    );
    await Promise.race([all, deadline]);
    clearTimeout(timer);

    return calls.map(
      (call, i) =>
        results[i] ??
        failure(
          call,
          "batch_deadline_exceeded",
          started[i]
            ? "The batch deadline passed before this call finished."
            : "The batch deadline passed before this call was reached; it did not run.",
        ),
    );
  }

  /** Runs one call alone (POST /v2/<call>): same path as inside a batch, without a batch deadline. */
  runSingle(call: CallRequest, ctx: RunContext): Promise<CallOutcome> {
    return this.deps.inflight.add(() => this.execute(call, ctx, undefined, ctx.callRef)) as Promise<CallOutcome>;
  }

  /**
   * Runs one stored item of an asynchronous batch. Its token is known only by its hash and is
   * checked again now (a token revoked or expired since the item was added fails invalid_token),
   * with the per-token rate limit applied; `ref` names the item's effects.
   */
  runItem(item: StoredCall, ctx: RunContext, ref: string): Promise<CallOutcome> {
    return this.deps.inflight.add(async (): Promise<CallOutcome> => {
      const call: CallRequest = { call: item.call, reference_id: item.reference_id, parameters: item.parameters };
      const handler = this.deps.handlers.get(call.call);
      if (!handler) return rejected(failure(call, "unknown_call", `No call named ${JSON.stringify(call.call)} is registered.`));
      let rate: RateDecision | undefined;
      let principal: Principal | null = null;
      try {
        if (item.tokenHash !== "") {
          rate = await this.consumeTokenLimit(item.tokenHash);
          if (!rate.allowed) {
            return rejected(failure(call, "throttle_exceeded", `This access token is over its rate limit; retry in ${rate.resetSeconds} s.`), rate);
          }
          if (handler.auth === "user") principal = await this.deps.auth.principalFor(item.tokenHash);
        } else if (handler.auth !== "none") {
          throw new GatewayError("missing_authorization");
        }
        if (handler.scope && principal && !principal.scopes.has(handler.scope)) {
          throw new GatewayError("insufficient_scope", `This call needs the ${handler.scope} scope.`);
        }
      } catch (e) {
        return rejected(this.errorResult(call, e, ctx), rate);
      }
      const parsed = handler.schema.safeParse(call.parameters ?? {});
      if (!parsed.success) return rejected(failure(call, "invalid_parameters", describeZodError(parsed.error)), rate);
      const { result, settled } = this.runHandler(handler, parsed.data, call, principal, ctx, undefined, ref);
      // A timed-out item's money may still move: its recorded outcome is the handler's own.
      void result;
      return { rate, executed: true, result: await settled, settled };
    }) as Promise<CallOutcome>;
  }

  private async execute(call: CallRequest, ctx: RunContext, batch: BatchState | undefined, ref: string | undefined): Promise<CallOutcome> {
    const handler = this.deps.handlers.get(call.call);
    if (!handler) return rejected(failure(call, "unknown_call", `No call named ${JSON.stringify(call.call)} is registered.`));

    let rate: RateDecision | undefined;
    let principal: Principal | null = null;
    let tokenHash = "";
    try {
      const token = call.authorization;
      if (token !== undefined && token !== "") {
        tokenHash = await this.deps.auth.hash(token);
        rate = await this.consumeTokenLimit(tokenHash);
        if (!rate.allowed) {
          return rejected(failure(call, "throttle_exceeded", `This access token is over its rate limit; retry in ${rate.resetSeconds} s.`), rate);
        }
        if (handler.auth === "user") principal = await this.deps.auth.principalFor(tokenHash);
      } else if (handler.auth !== "none") {
        throw new GatewayError("missing_authorization");
      }
      if (handler.scope && principal && !principal.scopes.has(handler.scope)) {
        throw new GatewayError("insufficient_scope", `This call needs the ${handler.scope} scope.`);
      }
    } catch (e) {
      return rejected(this.errorResult(call, e, ctx), rate);
    }

    const parsed = handler.schema.safeParse(call.parameters ?? {});
    if (!parsed.success) return rejected(failure(call, "invalid_parameters", describeZodError(parsed.error)), rate);

    let claim: IdempotencyClaim | undefined;
    if (call.idempotency_key !== undefined && ctx.idempotency) {
      try {
        const { service, scope } = ctx.idempotency;
        const fingerprint = await service.fingerprint(call.call, tokenHash, call.parameters ?? {});
        const begun = await service.begin(scope, call.idempotency_key, fingerprint);
        if (begun.kind === "replay") {
          const replay: CallResult = {
            call: call.call,
            reference_id: call.reference_id ?? null,
            status: begun.response.status,
            response: JSON.parse(begun.response.body),
            replayed: true,
          };
          return rejected(replay, rate);
        }
        claim = begun;
        ref = await service.effectRef({ scope, key: call.idempotency_key, fingerprint });
      } catch (e) {
        return rejected(e instanceof GatewayError ? this.errorResult(call, e, ctx) : failure(call, "service_unavailable", "The idempotency store is unavailable; the call did not run."), rate);
      }
    }

    const { result, settled } = this.runHandler(handler, parsed.data, call, principal, ctx, batch, ref);
    if (claim) {
      const owned = claim;
      // Store the handler's real outcome, even when the caller was told it timed out.
      void settled
        .then((final) => owned.finish({ status: final.status, body: JSON.stringify(final.response) }))
        .catch((e: unknown) => ctx.logger.error({ call: call.call, err: String(e) }, "idempotency record not stored"));
    }
    return { rate, executed: true, result: await result, settled };
  }

  private async consumeTokenLimit(tokenHash: string): Promise<RateDecision> {
    try {
      return await this.deps.tokenLimiter.consume(tokenHash, 1);
    } catch {
      // The limiter's store failed (not a rejection): refuse the call rather than run it unlimited.
      throw new GatewayError("service_unavailable", "The rate limiter is unavailable; the call did not run.");
    }
  }

  /**
   * Starts the handler; `result` resolves by the call's timeout or the batch deadline, whichever
   * comes first, and `settled` when the handler itself does. One timer per call, and the batch
   * deadline stops running calls through the batch's set rather than an event listener each.
   */
  private runHandler(
    handler: HandlerDef,
    params: unknown,
    call: CallRequest,
    principal: Principal | null,
    ctx: RunContext,
    batch: BatchState | undefined,
    ref: string | undefined,
  ): { result: Promise<CallResult>; settled: Promise<CallResult> } {
    // The AbortController is made only if the handler reads ctx.signal (creating one costs more
    // than a whole lookup call); an abort before that hands it an already-aborted signal.
    let controller: AbortController | undefined;
    let abortReason: GatewayError | undefined;
    const abort = (reason: GatewayError) => {
      abortReason ??= reason;
      controller?.abort(reason);
    };
    let resolveResult!: (r: CallResult) => void;
    const result = new Promise<CallResult>((resolve) => (resolveResult = resolve));
    let done = false;
    const complete = (r: CallResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      batch?.running.delete(onDeadline);
      resolveResult(r);
    };
    const timeoutMs = this.deps.options.callTimeoutMs;
    const timer = setTimeout(() => {
      abort(new GatewayError("call_timeout"));
      complete(failure(call, "call_timeout", `The call did not finish within ${timeoutMs} ms.`));
    }, timeoutMs);
    const onDeadline = () => {
      abort(new GatewayError("batch_deadline_exceeded"));
      complete(failure(call, "batch_deadline_exceeded"));
    };
    batch?.running.add(onDeadline);

    const callCtx: CallContext = {
      principal,
      authorization: handler.auth === "forward" ? (call.authorization ?? null) : null,
      ref: ref ? ref.slice(0, 26) : null,
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (abortReason) controller.abort(abortReason);
        }
        return controller.signal;
      },
      requestId: ctx.requestId,
      logger: ctx.logger,
      services: this.deps.services,
    };
    let settled: Promise<CallResult>;
    try {
      settled = handler.run(params, callCtx).then(
        (value): CallResult => ({ call: call.call, reference_id: call.reference_id ?? null, status: 200, response: value }),
        (e: unknown) => this.errorResult(call, e, ctx),
      );
    } catch (e) {
      settled = Promise.resolve(this.errorResult(call, e, ctx));
    }
    settled.then(complete);
    return { result, settled };
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

/** An outcome for a call whose handler did not run. */
function rejected(result: CallResult, rate?: RateDecision): CallOutcome {
  return { result, rate, executed: false, settled: Promise.resolve(result) };
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
