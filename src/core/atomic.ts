/**
 * @module
 * `atomic: true` on /batch/create (DESIGN §1.3): a saga over the batch's calls. Every call's
 * handler must declare its compensating action (`compensate`, or `compensation: "none"` for
 * calls that change nothing); a batch with any other call is refused before anything runs.
 * The calls run one after another, in order, through the engine's own per-call path
 * (BatchEngine.runOne: authentication, scope, parameters, per-call idempotency, timeout). When
 * one fails, the calls after it do not run, and the calls that succeeded are compensated newest
 * first; each result says whether its compensation worked.
 *
 * Why in order and not concurrently: a compensation must know exactly which calls took effect,
 * and a later call must not race the compensation of an earlier one (a payment being reversed
 * while a payout spends the same money). Running one at a time makes both certain.
 */
import type { Metrics } from "../ports/metrics.js";
import type { Logger } from "../ports/runtime.js";
import type { Authenticator } from "./auth.js";
import type { CallContext, CallServices, HandlerLookup } from "./call-contract.js";
import { effectRef } from "./effect-ref.js";
import type { BatchEngine, CallRequest, CallResult, RunContext } from "./engine.js";
import { type ClassicError, GatewayError, toClassicError } from "./errors.js";

export interface AtomicCallResult extends CallResult {
  /** Set on a call that had succeeded when a later one failed: its compensation worked. */
  compensated?: true;
  /** Set instead when the compensation failed: that call's effect stands and needs an operator. */
  compensation_error?: ClassicError;
}

export interface AtomicRunnerDeps {
  engine: BatchEngine;
  handlers: HandlerLookup;
  auth: Authenticator;
  services: CallServices;
  logger: Logger;
  metrics?: Metrics;
}

/** How long a compensation may take before it is reported as timed out. */
const COMPENSATION_TIMEOUT_MS = 30_000;

export class AtomicRunner {
  constructor(private readonly deps: AtomicRunnerDeps) {}

  /** Throws call_not_compensable (400) naming the first call whose handler declares no compensation. */
  check(calls: readonly CallRequest[]): void {
    calls.forEach((call, i) => {
      const handler = this.deps.handlers.get(call.call);
      if (!handler) {
        throw new GatewayError("call_not_compensable", `calls[${i}]: ${JSON.stringify(call.call)} is not a registered call, so it has no compensating action.`, undefined, { index: i, field: `calls[${i}].call` });
      }
      if (!handler.compensate && handler.compensation !== "none") {
        throw new GatewayError(
          "call_not_compensable",
          `calls[${i}]: ${call.call} declares no compensating action, so it cannot run in an atomic batch; nothing ran.`,
          undefined,
          { index: i, field: `calls[${i}].call` },
        );
      }
    });
  }

  /** Runs the calls in order; on the first failure compensates the ones that succeeded, newest first. */
  async run(calls: readonly CallRequest[], ctx: RunContext): Promise<AtomicCallResult[]> {
    this.check(calls);
    const results: AtomicCallResult[] = [];
    const values: unknown[] = [];
    let failedAt = -1;
    for (let i = 0; i < calls.length; i++) {
      const ref = ctx.batchRef ? await effectRef((t) => this.deps.auth.hash(t), { batchRef: ctx.batchRef, index: i }) : undefined;
      const result: AtomicCallResult = await this.deps.engine.runOne(calls[i], ctx, ref);
      results.push(result);
      values.push(result.response);
      if (result.status !== 200) {
        failedAt = i;
        break;
      }
    }
    if (failedAt < 0) return results;
    for (let i = failedAt + 1; i < calls.length; i++) {
      const call = calls[i];
      results.push({
        call: call.call,
        reference_id: call.reference_id ?? null,
        status: 424,
        response: toClassicError("atomic_batch_aborted", `calls[${failedAt}] (${calls[failedAt].call}) failed, so this call did not run.`),
      });
    }
    for (let i = failedAt - 1; i >= 0; i--) {
      // Replayed from its idempotency_key: the effect belongs to the request that first made it.
      if (results[i].replayed) continue;
      const error = await this.compensate(calls[i], values[i], ctx);
      if (error) {
        results[i].compensation_error = error;
        this.manualActionRequired(calls[i], i, error, ctx);
      } else {
        results[i].compensated = true;
      }
    }
    return results;
  }

  /** Runs call i's compensation; null when it worked, its error otherwise. */
  private async compensate(call: CallRequest, value: unknown, ctx: RunContext): Promise<ClassicError | null> {
    const handler = this.deps.handlers.get(call.call)!;
    if (!handler.compensate) return null;
    try {
      const principal = handler.auth === "user" && call.authorization ? await this.deps.auth.principalFor(await this.deps.auth.hash(call.authorization)) : null;
      const callCtx: CallContext = {
        principal,
        authorization: null,
        ref: null,
        signal: AbortSignal.timeout(COMPENSATION_TIMEOUT_MS),
        requestId: ctx.requestId,
        logger: ctx.logger,
        services: this.deps.services,
      };
      await handler.compensate(value, callCtx);
      return null;
    } catch (e) {
      if (e instanceof GatewayError) return e.toClassic();
      ctx.logger.error({ request_id: ctx.requestId, call: call.call, err: String(e) }, "compensation threw");
      return toClassicError("processing_error", "The compensation failed unexpectedly.");
    }
  }

  /** The one place a failed compensation is reported: an error log line and the metrics counter. */
  private manualActionRequired(call: CallRequest, index: number, error: ClassicError, ctx: RunContext) {
    ctx.logger.error(
      { request_id: ctx.requestId, call: call.call, index, reference_id: call.reference_id ?? null, reason: error.error },
      "atomic batch compensation failed: manual action required",
    );
    this.deps.metrics?.inc("batchgate_manual_action_required_total", { kind: "atomic_call_compensation" });
  }
}
