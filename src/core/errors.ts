/**
 * @module
 * The one closed catalog of errors the gateway emits. Every error body, whether it is the
 * whole request's or one call's, is built from an entry here (README lists them).
 */

/** code → HTTP status, numeric error_code, default description. */
export const ERROR_CATALOG = {
  // 1xxx: the request or envelope
  invalid_json: { status: 400, errorCode: 1001, description: "The request body is not valid JSON." },
  invalid_body: { status: 400, errorCode: 1002, description: "The request body must be a JSON object." },
  invalid_envelope: { status: 400, errorCode: 1003, description: "The batch envelope is invalid." },
  invalid_call_count: { status: 400, errorCode: 1004, description: "The batch must contain between 1 and the maximum number of calls." },
  duplicate_reference_id: { status: 400, errorCode: 1005, description: "Each reference_id must be unique within the batch." },
  unsupported_media_type: { status: 415, errorCode: 1006, description: "The request body must be sent as application/json." },
  body_too_large: { status: 413, errorCode: 1007, description: "The request body is larger than the limit." },
  unknown_call: { status: 404, errorCode: 1008, description: "No such call is registered." },
  invalid_parameters: { status: 400, errorCode: 1009, description: "The call's parameters are invalid." },
  route_not_found: { status: 404, errorCode: 1010, description: "No such endpoint." },
  method_not_allowed: { status: 405, errorCode: 1011, description: "This endpoint does not accept that method." },
  invalid_idempotency_key: { status: 400, errorCode: 1012, description: "An idempotency key must be 1 to 255 visible ASCII characters." },
  duplicate_idempotency_key: { status: 400, errorCode: 1013, description: "Each idempotency_key must be unique within the batch." },
  idempotency_key_reused: { status: 422, errorCode: 1014, description: "This idempotency key was already used with a different request." },
  idempotency_key_in_use: { status: 409, errorCode: 1015, description: "A request with this idempotency key is still being processed; retry later." },
  invalid_query: { status: 400, errorCode: 1018, description: "The query parameters are invalid." },
  idempotency_key_needs_identity: { status: 400, errorCode: 1016, description: "An Idempotency-Key needs a caller to belong to: send the call with an access token." },
  call_not_compensable: { status: 400, errorCode: 1017, description: "An atomic batch may only contain calls that declare a compensating action." },
  atomic_batch_aborted: { status: 424, errorCode: 4006, description: "An earlier call of this atomic batch failed, so this call did not run." },

  // 2xxx: who is calling
  invalid_client: { status: 401, errorCode: 2001, description: "Unknown client or wrong client secret." },
  missing_authorization: { status: 401, errorCode: 2002, description: "This call needs an access token." },
  invalid_token: { status: 401, errorCode: 2003, description: "The access token is invalid, expired or revoked." },
  insufficient_scope: { status: 403, errorCode: 2004, description: "The access token lacks the scope this call needs." },
  invalid_admin_key: { status: 401, errorCode: 2005, description: "Missing or wrong admin key: send Authorization: Bearer <ADMIN_API_KEY>." },

  // 3xxx: resources and money
  not_found: { status: 404, errorCode: 3001, description: "The resource does not exist or is not yours." },
  insufficient_funds: { status: 422, errorCode: 3002, description: "The wallet balance is too low for this amount." },
  currency_mismatch: { status: 422, errorCode: 3003, description: "The amount's currency does not match the wallet's." },
  same_wallet: { status: 422, errorCode: 3004, description: "The source and destination wallets must differ." },
  payment_not_reversible: { status: 409, errorCode: 3005, description: "The payment has already been reversed." },
  payout_not_cancellable: { status: 409, errorCode: 3006, description: "Only a pending payout can be cancelled." },
  payout_declined: { status: 422, errorCode: 3007, description: "The payout rail declined the payout." },
  rail_unavailable: { status: 503, errorCode: 3008, description: "The payout rail is unavailable; nothing was moved." },
  wallet_frozen: { status: 409, errorCode: 3009, description: "The wallet is frozen: it can neither send nor receive." },
  invalid_destination: { status: 422, errorCode: 3010, description: "The payout rail is unknown, or the destination does not fit the rail's shape." },
  treasury_holder_not_allowed: { status: 422, errorCode: 3011, description: "A client's treasury holder (cli_…) gets no tokens, no wallets by hand, and is never a payout recipient." },

  // 6xxx: asynchronous batches
  batch_not_processable: { status: 422, errorCode: 6001, description: "The batch is not building, is empty, or is over the item limit." },
  batch_already_processing: { status: 409, errorCode: 6002, description: "The batch is already being processed." },
  batch_too_large: { status: 422, errorCode: 6003, description: "The batch would hold more items than the limit." },
  invalid_batch_item: { status: 422, errorCode: 6004, description: "An item of the batch is invalid; nothing was added." },
  duplicate_item_idempotency_key: { status: 422, errorCode: 6005, description: "Two items of the batch use the same idempotency_key." },
  item_idempotency_key_in_use: { status: 409, errorCode: 6006, description: "An item's idempotency_key is already used in another batch of this client." },
  batch_status_conflict: { status: 409, errorCode: 6007, description: "The batch's status does not allow this." },
  duplicate_customer_transaction_id: { status: 422, errorCode: 6008, description: "Two payout items of the batch use the same customer_transaction_id." },
  customer_transaction_id_in_use: { status: 409, errorCode: 6009, description: "A payout item's customer_transaction_id is already used in another batch of this client." },

  // 4xxx: execution
  call_timeout: { status: 504, errorCode: 4001, description: "The call did not finish within its timeout." },
  batch_deadline_exceeded: { status: 504, errorCode: 4002, description: "The batch deadline passed before this call finished." },
  processing_error: { status: 500, errorCode: 4003, description: "The call failed unexpectedly." },
  upstream_error: { status: 502, errorCode: 4004, description: "The upstream service answered with an error." },
  upstream_unavailable: { status: 502, errorCode: 4005, description: "The upstream service could not be reached." },

  // 5xxx: limits and availability
  throttle_exceeded: { status: 429, errorCode: 5001, description: "Too many requests; retry later." },
  service_unavailable: { status: 503, errorCode: 5002, description: "The gateway cannot serve this request right now." },
  internal_error: { status: 500, errorCode: 5003, description: "Something went wrong on our side." },

  // 7xxx: webhooks
  webhook_url_not_allowed: { status: 422, errorCode: 7001, description: "The webhook URL is not allowed: it must be https and reach a public address." },
  webhook_endpoint_limit: { status: 422, errorCode: 7002, description: "This client has the maximum number of webhook endpoints." },
  webhook_endpoint_disabled: { status: 409, errorCode: 7003, description: "The webhook endpoint is disabled." },
  webhook_delivery_in_progress: { status: 409, errorCode: 7004, description: "This webhook delivery is being attempted right now; retry later." },
} as const satisfies Record<string, { status: number; errorCode: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export const ERROR_CODES = Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]];

/** Where an error points: `{ field: "calls[2].parameters.amount" }`, `{ index: 2 }`. */
export type ErrorDetails = Record<string, string | number>;

/** The classic error body used on /batch/create and /v2/*. */
export interface ClassicError {
  error: ErrorCode;
  error_description: string;
  error_code: number;
}

/**
 * The gateway's one error type. Handlers throw it for expected failures; the engine turns it
 * into a call result and routes turn it into a response.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (Retry-After on throttling). */
  readonly headers?: Record<string, string>;
  /** What the error is about (a field, an item index), shown on the /v1 surface. */
  readonly details?: ErrorDetails;

  constructor(code: ErrorCode, message?: string, headers?: Record<string, string>, details?: ErrorDetails) {
    super(message ?? ERROR_CATALOG[code].description);
    this.name = "GatewayError";
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.headers = headers;
    this.details = details;
  }

  toClassic(): ClassicError {
    return toClassicError(this.code, this.message);
  }
}

export function toClassicError(code: ErrorCode, message?: string): ClassicError {
  const entry = ERROR_CATALOG[code];
  return { error: code, error_description: message ?? entry.description, error_code: entry.errorCode };
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}
