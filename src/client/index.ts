/**
 * @module
 * The typed client: Hono's `hc` over the gateway's own route types (AppType), so requests and
 * answers are typed from the same zod schemas the routes and handlers use.
 *
 * @example
 * ```ts
 * import { createClient } from "batchgate/client";
 * const gw = createClient("http://localhost:8787");
 * const { calls } = await gw.batch(
 *   { clientId: 1, clientSecret: "cs_…", calls: [{ call: "/user", authorization: token }] },
 *   { idempotencyKey: "nightly-42" },
 * );
 * const wallet = await gw.call("/wallet/find", token, { wallet_id: "wal_…" });
 * wallet.balance; // string, typed from the handler's response schema
 * ```
 *
 * Web-standard only (fetch), so it runs on Node, in browsers and on Workers.
 */
import { hc } from "hono/client";
import type { z } from "zod";
import type { AppType } from "../../routes/index.js";
import type { BatchCall, BatchResponse } from "../../routes/classic/batch-create.js";
import type { ErrorCode } from "../core/errors.js";
import type { CreatePayment } from "../handlers/payments.js";
import type { CreatePayout } from "../handlers/payouts.js";
import type { PaymentResponse, PayoutResponse, UserResponse, WalletListResponse, WalletResponse } from "../handlers/shapes.js";

type Id<K extends string> = { [P in K]: string };

/** The built-in calls: their parameters as sent and their responses as answered. */
export interface BuiltinCalls {
  "/user": { params: Record<string, never>; response: z.output<typeof UserResponse> };
  "/wallet/find": { params: Id<"wallet_id">; response: z.output<typeof WalletResponse> };
  "/wallet/list": { params: Record<string, never>; response: z.output<typeof WalletListResponse> };
  "/payment/create": { params: z.input<typeof CreatePayment>; response: z.output<typeof PaymentResponse> };
  "/payment/find": { params: Id<"payment_id">; response: z.output<typeof PaymentResponse> };
  "/payment/reverse": { params: Id<"payment_id">; response: z.output<typeof PaymentResponse> };
  "/payout/create": { params: z.input<typeof CreatePayout>; response: z.output<typeof PayoutResponse> };
  "/payout/find": { params: Id<"payout_id">; response: z.output<typeof PayoutResponse> };
  "/payout/cancel": { params: Id<"payout_id">; response: z.output<typeof PayoutResponse> };
}

export type BatchCallRequest = z.input<typeof BatchCall>;
export type BatchResult = z.output<typeof BatchResponse>;

export interface ClientOptions {
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Sent with every request (an X-Request-Id, a tracing header). */
  headers?: Record<string, string>;
}

export interface BatchRequest {
  clientId: number;
  clientSecret: string;
  calls: BatchCallRequest[];
}

export interface RequestOptions {
  idempotencyKey?: string;
  requestId?: string;
}

/** The gateway refused the whole request (a classic error body); a call's own error inside a batch is a result, not this. */
export class BatchgateError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "unexpected_response",
    message: string,
    readonly errorCode: number | null,
    readonly requestId: string | null,
  ) {
    super(message);
    this.name = "BatchgateError";
  }
}

async function answer<T>(res: Response): Promise<{ body: T; replayed: boolean; requestId: string | null }> {
  const requestId = res.headers.get("x-request-id");
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BatchgateError(res.status, "unexpected_response", `The gateway answered ${res.status} with a body that is not JSON.`, null, requestId);
  }
  if (!res.ok) {
    throw new BatchgateError(res.status, body?.error ?? "unexpected_response", body?.error_description ?? `HTTP ${res.status}`, body?.error_code ?? null, body?.request_id ?? requestId);
  }
  return { body: body as T, replayed: res.headers.get("idempotent-replayed") === "true", requestId };
}

function headersOf(base: Record<string, string> | undefined, opts: RequestOptions | undefined, extra: Record<string, string> = {}) {
  const h: Record<string, string> = { ...base, ...extra };
  if (opts?.idempotencyKey !== undefined) h["idempotency-key"] = opts.idempotencyKey;
  if (opts?.requestId !== undefined) h["x-request-id"] = opts.requestId;
  return h;
}

export function createClient(baseUrl: string, opts: ClientOptions = {}) {
  const api = hc<AppType>(baseUrl, { fetch: opts.fetch });

  return {
    /** The route-typed `hc` client itself, for anything the helpers below do not cover. */
    api,

    /** POST /batch/create with HTTP Basic client credentials; one result per call, in order. */
    async batch(req: BatchRequest, options?: RequestOptions): Promise<BatchResult & { replayed: boolean }> {
      const basic = `Basic ${btoa(`${req.clientId}:${req.clientSecret}`)}`;
      const res = await api.batch.create.$post(undefined, {
        headers: headersOf(opts.headers, options, { authorization: basic, "content-type": "application/json" }),
        init: { body: JSON.stringify({ calls: req.calls }) },
      });
      const { body, replayed } = await answer<BatchResult>(res);
      return { ...body, replayed };
    },

    /** POST /v2/<call> with the access token; a built-in call's parameters and response are typed. */
    async call<N extends keyof BuiltinCalls | (string & {})>(
      name: N,
      token: string | null,
      params?: N extends keyof BuiltinCalls ? BuiltinCalls[N]["params"] : Record<string, unknown>,
      options?: RequestOptions,
    ): Promise<N extends keyof BuiltinCalls ? BuiltinCalls[N]["response"] : Record<string, unknown>> {
      const extra: Record<string, string> = { "content-type": "application/json" };
      if (token !== null) extra.authorization = `Bearer ${token}`;
      // Calls are registered at run time (upstreams too), so they are addressed by path.
      const url = new URL(`v2${name}`, baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
      const res = await (opts.fetch ?? fetch)(url, { method: "POST", headers: headersOf(opts.headers, options, extra), body: JSON.stringify(params ?? {}) });
      return (await answer<any>(res)).body;
    },

    /** GET /readyz: whether the gateway's store answers. */
    async ready(): Promise<boolean> {
      const res = await api.readyz.$get();
      return res.status === 200;
    },
  };
}

export type BatchgateClient = ReturnType<typeof createClient>;
