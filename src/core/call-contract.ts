/**
 * @module
 * What a handler is (DESIGN §2): a registered call with a zod schema, a required scope, an auth
 * mode, and run(). Handlers never see HTTP; they get the principal, an abort signal carrying the
 * call's deadline, and the services they need.
 */
import type { ZodType } from "zod";
import type { RailProvider } from "../ports/rails.js";
import type { Clock, Logger } from "../ports/runtime.js";
import type { LedgerReadsSync, LedgerStore } from "../ports/ledger.js";

export const SCOPES = [
  "user:read",
  "wallets:read",
  "payments:read",
  "payments:write",
  "payouts:read",
  "payouts:write",
] as const;
export type Scope = (typeof SCOPES)[number];

/** The end user on whose behalf a call runs, from a verified access token. */
export interface Principal {
  userId: string;
  scopes: ReadonlySet<string>;
}

/**
 * How a call is authorized:
 * - `user`: the gateway verifies the access token and the handler's scope; run() gets a principal.
 * - `forward`: an access token must be present; the gateway does not verify it but hands it to
 *   run() (upstream handlers forward it to the service that owns it).
 * - `none`: no token needed.
 */
export type AuthMode = "user" | "forward" | "none";

export interface CallServices {
  ledger: LedgerStore;
  rails: RailProvider;
  clock: Clock;
  fetch: typeof fetch;
}

/** What a synchronous read-only call (HandlerDef.runSync) gets. */
export interface SyncCallContext {
  principal: Principal | null;
  reads: LedgerReadsSync;
}

export interface CallContext {
  principal: Principal | null;
  /** The raw access token, given only to `forward` handlers. */
  authorization: string | null;
  /**
   * Set when the call runs under an idempotency key: a stable id (26 hex characters) for its
   * effects. The same key and request always give the same ref, so a handler that names what
   * it creates after it (pay_<ref>; derived in effect-ref.ts) cannot create it twice, even if the gateway crashed between
   * the effect and the idempotency record.
   */
  ref: string | null;
  signal: AbortSignal;
  requestId: string;
  logger: Logger;
  services: CallServices;
}

export interface HandlerDef<P = unknown, R = unknown> {
  name: string;
  summary: string;
  auth: AuthMode;
  scope?: Scope;
  schema: ZodType<P>;
  /**
   * Optional fast check: true only when `schema` accepts the value as it is (its output would be an
   * equal object), which the engine then takes as the parameters without running zod; for
   * anything else zod runs and names the problem. A test holds each one to its schema.
   */
  accepts?(params: unknown): boolean;
  /** The response's schema: describes the call in the OpenAPI document and types the client. */
  response?: ZodType<R>;
  /**
   * run() only reads the store. The engine then starts it inside the batch's read snapshot
   * (Store.readSnapshot), where the reads it makes before its first await share one transaction.
   */
  readOnly?: boolean;
  run(params: P, ctx: CallContext): Promise<R>;
  /**
   * run() answered synchronously, for a read-only call, from the same records: used when the store
   * offers synchronous reads (LedgerStore.sync). The engine then runs the call inline, inside the
   * batch's read snapshot, with no promise and no timer; what it throws is its result, as for run().
   */
  runSync?(params: P, ctx: SyncCallContext): R;
  /**
   * Undoes a successful run (`result` is what run returned) when a later call of an atomic batch
   * fails; throws a GatewayError when it cannot (that error is reported beside the call's result).
   */
  compensate?(result: R, ctx: CallContext): Promise<void>;
  /** Declared by calls that change nothing (lookups): they need no compensation in an atomic batch. */
  compensation?: "none";
}

export interface HandlerLookup {
  get(name: string): HandlerDef | undefined;
  /** Every registered call, sorted by name (the OpenAPI document lists them). */
  all(): HandlerDef[];
}

/** Declares a handler with its parameter type inferred from the schema. */
export function defineHandler<P, R>(def: HandlerDef<P, R>): HandlerDef {
  return def as unknown as HandlerDef;
}
