/**
 * @module
 * The batch engine: runs calls against registered handlers with a per-batch concurrency limit,
 * a process-wide in-flight cap, a timeout per call and a deadline per batch. Every call ends as
 * exactly one result, in request order; a failure is a result, never an exception.
 */
import PQueue from "p-queue";
import type { ZodError } from "zod";
import type { RateDecision, RateLimiter } from "../ports/rate-limiter.js";
import type { Logger } from "../ports/runtime.js";
import type { Authenticator } from "./auth.js";
import { type ClassicError, type ErrorCode, GatewayError, toClassicError, ERROR_CATALOG } from "./errors.js";
import type { CallContext, HandlerDef, HandlerLookup, HandlerServices, Principal } from "./handler.js";

export interface CallRequest {
  call: string;
  authorization?: string;
  reference_id?: string;
  parameters?: unknown;
}

export interface CallResult {
  call: string;
  reference_id: string | null;
  status: number;
  response: unknown;
}

/** A call's result plus what the single-call route needs for headers. */
export interface CallOutcome {
  result: CallResult;
  /** The per-token limiter's decision, when the call carried a token. */
  rate?: RateDecision;
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
  services: HandlerServices;
  /** Process-wide cap on calls executing at once, shared by every batch and single call. */
  inflight: PQueue;
  options: EngineOptions;
}

export interface RunContext {
  requestId: string;
  logger: Logger;
}

const TIMED_OUT = Symbol("timed out");
const DEADLINE = Symbol("deadline");

export class BatchEngine {
  constructor(private readonly deps: EngineDeps) {}

  /** Runs every call; resolves with one result per call, in order, by the batch deadline. */
  async runBatch(calls: readonly CallRequest[], ctx: RunContext): Promise<CallResult[]> {
    const { batchConcurrency, batchDeadlineMs } = this.deps.options;
    const results: (CallResult | undefined)[] = new Array(calls.length);
    const started: boolean[] = new Array(calls.length).fill(false);
    const batch = new AbortController();
    const queue = new PQueue({ concurrency: batchConcurrency });

    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        queue.clear();
        batch.abort(DEADLINE);
        resolve();
      }, batchDeadlineMs);
    });
    const all = Promise.all(
      calls.map((call, i) =>
        queue.add(() =>
          this.deps.inflight.add(async () => {
            if (batch.signal.aborted) return;
            started[i] = true;
            const outcome = await this.execute(call, ctx, batch.signal);
            if (!batch.signal.aborted) results[i] = outcome.result;
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
    return this.deps.inflight.add(() => this.execute(call, ctx, undefined)) as Promise<CallOutcome>;
  }

  private async execute(call: CallRequest, ctx: RunContext, batchSignal: AbortSignal | undefined): Promise<CallOutcome> {
    const handler = this.deps.handlers.get(call.call);
    if (!handler) return { result: failure(call, "unknown_call", `No call named ${JSON.stringify(call.call)} is registered.`) };

    let rate: RateDecision | undefined;
    let principal: Principal | null = null;
    try {
      const token = call.authorization;
      if (token !== undefined && token !== "") {
        const tokenHash = await this.deps.auth.hash(token);
        rate = await this.consumeTokenLimit(tokenHash);
        if (!rate.allowed) {
          return {
            rate,
            result: failure(call, "throttle_exceeded", `This access token is over its rate limit; retry in ${rate.resetSeconds} s.`),
          };
        }
        if (handler.auth === "user") principal = await this.deps.auth.principalFor(tokenHash);
      } else if (handler.auth !== "none") {
        throw new GatewayError("missing_authorization");
      }
      if (handler.scope && principal && !principal.scopes.has(handler.scope)) {
        throw new GatewayError("insufficient_scope", `This call needs the ${handler.scope} scope.`);
      }
    } catch (e) {
      return { rate, result: this.errorResult(call, e, ctx) };
    }

    const parsed = handler.schema.safeParse(call.parameters ?? {});
    if (!parsed.success) {
      return { rate, result: failure(call, "invalid_parameters", describeZodError(parsed.error)) };
    }

    const response = await this.runHandler(handler, parsed.data, call, principal, ctx, batchSignal);
    return { rate, result: response };
  }

  private async consumeTokenLimit(tokenHash: string): Promise<RateDecision> {
    try {
      return await this.deps.tokenLimiter.consume(tokenHash, 1);
    } catch {
      // The limiter's store failed (not a rejection): refuse the call rather than run it unlimited.
      throw new GatewayError("service_unavailable", "The rate limiter is unavailable; the call did not run.");
    }
  }

  private async runHandler(
    handler: HandlerDef,
    params: unknown,
    call: CallRequest,
    principal: Principal | null,
    ctx: RunContext,
    batchSignal: AbortSignal | undefined,
  ): Promise<CallResult> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onBatchAbort: (() => void) | undefined;
    const stop = new Promise<typeof TIMED_OUT | typeof DEADLINE>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new GatewayError("call_timeout"));
        resolve(TIMED_OUT);
      }, this.deps.options.callTimeoutMs);
      if (batchSignal) {
        onBatchAbort = () => {
          controller.abort(new GatewayError("batch_deadline_exceeded"));
          resolve(DEADLINE);
        };
        batchSignal.addEventListener("abort", onBatchAbort, { once: true });
      }
    });
    const callCtx: CallContext = {
      principal,
      authorization: handler.auth === "forward" ? (call.authorization ?? null) : null,
      signal: controller.signal,
      requestId: ctx.requestId,
      logger: ctx.logger,
      services: this.deps.services,
    };
    try {
      const value = await Promise.race([handler.run(params, callCtx), stop]);
      if (value === TIMED_OUT) return failure(call, "call_timeout", `The call did not finish within ${this.deps.options.callTimeoutMs} ms.`);
      if (value === DEADLINE) return failure(call, "batch_deadline_exceeded");
      return { call: call.call, reference_id: call.reference_id ?? null, status: 200, response: value };
    } catch (e) {
      return this.errorResult(call, e, ctx);
    } finally {
      clearTimeout(timer);
      if (onBatchAbort) batchSignal!.removeEventListener("abort", onBatchAbort);
    }
  }

  private errorResult(call: CallRequest, e: unknown, ctx: RunContext): CallResult {
    if (e instanceof GatewayError) return failure(call, e.code, e.message);
    ctx.logger.error(
      { request_id: ctx.requestId, call: call.call, reference_id: call.reference_id ?? null, err: errorSummary(e) },
      "handler threw",
    );
    return failure(call, "processing_error");
  }
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
