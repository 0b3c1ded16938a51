/**
 * @module
 * The two kinds of /v1/batches items as the caller sends them: call items (any registered call,
 * with the end user's token) and payout items (the API client pays a recipient from its treasury).
 * The shapes are checked here, item by item, so a bad item is `422 invalid_batch_item` naming its
 * index; the route documents the same schemas in the OpenAPI document.
 */
import { z } from "zod";
import { PAYOUT_DESTINATIONS } from "../handlers/payouts.js";
import { amountParam, currencyParam } from "../handlers/shapes.js";
import { PAYOUT_RAILS } from "../ports/rails.js";
import { formatAmount, parseAmount } from "./money.js";

/** The reserved `call` of a stored payout item (not a registered handler: those start with "/"). */
export const PAYOUT_CALL = "payout";

/** customer_batch_id and customer_transaction_id: 1 to 100 characters of [A-Za-z0-9._:-]. */
export const CUSTOMER_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export const customerIdParam = (what: string) =>
  z.string().regex(CUSTOMER_ID, "must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'").describe(what);

const Metadata = z.record(z.string(), z.unknown()).describe("Your own key/value context, echoed back");
const referenceId = z.string().min(1).max(255).describe("Your id for the item, echoed in its result and events");

export const CallItemInput = z
  .strictObject({
    type: z.literal("call").optional().describe('"call" (the default when omitted)'),
    call: z.string().min(1).max(255).describe("A registered call, e.g. /payment/create"),
    authorization: z.string().max(1024).optional().describe("The end user's access token: verified when the item is added; only its hash and principal are kept"),
    reference_id: referenceId.optional(),
    idempotency_key: z.string().min(1).max(255).optional().describe("Unique within the batch (422) and across the client's batches (409)"),
    parameters: z.record(z.string(), z.unknown()).optional().describe("The call's parameters (see its /v2 operation)"),
    metadata: Metadata.optional(),
  })
  .describe("A call item: one registered call made with the end user's token");

export const PayoutItemInput = z
  .strictObject({
    type: z.literal("payout"),
    user_id: z.string().min(1).max(64).describe("The recipient: an end user (never a client treasury)"),
    amount: amountParam.describe('Decimal string in the currency\'s minor-unit precision, e.g. "10.00"'),
    currency: currencyParam,
    rail: z.enum(PAYOUT_RAILS),
    destination: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        "The rail's destination, as /payout/create takes it: ach {routing_number, account_number}, card {card_token}, paypal {email}, venmo {handle}, check {name, address}; the recipient's default destination on the rail when omitted",
      ),
    customer_transaction_id: customerIdParam("Your id for the payout, unique across the client's batches; generated (ctx_…) when omitted").optional(),
    idempotency_key: z
      .string({ error: (iss) => (iss.input === undefined ? "is required on a payout item" : "must be a string") })
      .min(1)
      .max(255)
      .describe("Required: unique within the batch (422) and across the client's batches (409)"),
    reference_id: referenceId.optional(),
    metadata: Metadata.optional(),
  })
  .describe("A payout item: the API client pays the recipient from its treasury wallet in the currency (no authorization)");

export type CallItem = z.output<typeof CallItemInput>;
export type PayoutItem = z.output<typeof PayoutItemInput>;

/** Either kind of item, as the OpenAPI document shows it. */
export const BatchItemInputSchemas = [CallItemInput, PayoutItemInput] as const;

export type ParsedItem = { kind: "call"; item: CallItem } | { kind: "payout"; item: PayoutItem };

/** A refusal: what is wrong, and the field of the item it is about ("" for the item itself). */
export interface ItemProblem {
  message: string;
  field: string;
}

function problemOf(error: z.ZodError): ItemProblem {
  const issue = error.issues[0];
  const field = (issue?.path ?? []).map(String).join(".");
  if (!issue) return { message: "is invalid", field };
  if (issue.code === "unrecognized_keys") {
    return { message: `${field ? `${field}: ` : ""}unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`, field };
  }
  return { message: field ? `${field}: ${issue.message}` : issue.message, field };
}

/** The item's shape, by its `type` (call when omitted). */
export function parseItem(raw: unknown): { ok: true; parsed: ParsedItem } | { ok: false; problem: ItemProblem } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, problem: { message: "must be an object", field: "" } };
  const type = (raw as { type?: unknown }).type;
  if (type === undefined || type === "call") {
    const r = CallItemInput.safeParse(raw);
    return r.success ? { ok: true, parsed: { kind: "call", item: r.data } } : { ok: false, problem: problemOf(r.error) };
  }
  if (type === "payout") {
    if ("authorization" in raw) {
      return { ok: false, problem: { message: "a payout item takes no authorization: the API client pays it from its treasury", field: "authorization" } };
    }
    const r = PayoutItemInput.safeParse(raw);
    if (!r.success) return { ok: false, problem: problemOf(r.error) };
    const amount = parseAmount(r.data.amount, r.data.currency);
    if (!amount.ok) return { ok: false, problem: { message: `amount: ${amount.reason}`, field: "amount" } };
    // Normalised: "10.5" is stored and echoed as "10.50".
    r.data.amount = formatAmount(amount.minor, r.data.currency);
    if (r.data.destination !== undefined) {
      const d = PAYOUT_DESTINATIONS[r.data.rail].safeParse(r.data.destination);
      if (!d.success) {
        const p = problemOf(d.error);
        const field = p.field ? `destination.${p.field}` : "destination";
        return { ok: false, problem: { message: `destination (${r.data.rail}): ${p.message}`, field } };
      }
      r.data.destination = d.data;
    }
    return { ok: true, parsed: { kind: "payout", item: r.data } };
  }
  return { ok: false, problem: { message: 'type must be "call" or "payout"', field: "type" } };
}
