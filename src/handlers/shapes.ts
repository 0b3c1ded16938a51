/**
 * @module
 * Schemas and response shapes shared by the built-in handlers. Responses use the classic
 * snake_case names; amounts are decimal strings.
 */
import { z } from "zod";
import { GatewayError } from "../core/errors.js";
import { isoTime } from "../core/iso-time.js";
import { formatAmount, isSupportedCurrency, parseAmount } from "../core/money.js";
import type { Payment, Payout, User, Wallet } from "../ports/ledger.js";

const idPattern = (prefix: string) => new RegExp(`^${prefix}_[A-Za-z0-9]+$`);

export const idParam = (prefix: string) => z.string().min(1).max(64).regex(idPattern(prefix), `must be an id starting with ${prefix}_`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A lookup's parameters, `{ <key>: <prefix>_... }`: its schema and the fast check that matches it (HandlerDef.accepts). */
export function idLookup<K extends string>(key: K, prefix: string) {
  const pattern = idPattern(prefix);
  return {
    schema: z.strictObject({ [key]: idParam(prefix) } as Record<K, ReturnType<typeof idParam>>),
    accepts(p: unknown): boolean {
      if (!isObject(p)) return false;
      const keys = Object.keys(p);
      if (keys.length !== 1 || keys[0] !== key) return false;
      const v = p[key];
      return typeof v === "string" && v.length <= 64 && pattern.test(v);
    },
  };
}

/** A lookup without parameters, `{}`: its schema and fast check. */
export const noParams = {
  schema: z.strictObject({}),
  accepts: (p: unknown): boolean => isObject(p) && Object.keys(p).length === 0,
};

export const currencyParam = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD")
  .refine(isSupportedCurrency, "is not a supported currency");

export const descriptionParam = z.string().max(1024).optional();

/** Adds `minor` (integer minor units) to an object with `amount` and `currency`, or reports the amount field. */
export function withMinorUnits<T extends { amount: string; currency: string }>(v: T, ctx: z.RefinementCtx): T & { minor: number } {
  const parsed = parseAmount(v.amount, v.currency);
  if (!parsed.ok) {
    ctx.addIssue({ code: "custom", path: ["amount"], message: parsed.reason });
    return z.NEVER;
  }
  return { ...v, minor: parsed.minor };
}

export const amountParam = z
  .string({ error: (iss) => (iss.input === undefined ? "is required" : 'must be a decimal string such as "10.00", not a number') })
  .max(32, "is too long for an amount");

const iso = isoTime;

/*
 * Response schemas: the views below are typed by them (so a view cannot drift from its schema),
 * the OpenAPI document describes each call's response with them, and the typed client's results
 * are their types.
 */
const timestamp = z.string().describe("ISO 8601 UTC timestamp");
const amountOut = z.string().describe('Decimal string in the currency\'s minor-unit precision, e.g. "10.00"');

export const UserResponse = z.object({
  user_id: z.string(),
  email: z.string(),
  first_name: z.string(),
  last_name: z.string(),
  created_at: timestamp,
});

export const WalletResponse = z.object({
  wallet_id: z.string(),
  user_id: z.string(),
  currency: z.string(),
  balance: amountOut,
  created_at: timestamp,
});

export const WalletListResponse = z.object({ wallets: z.array(WalletResponse) });

export const PaymentResponse = z.object({
  payment_id: z.string(),
  from_wallet_id: z.string(),
  to_wallet_id: z.string(),
  amount: amountOut,
  currency: z.string(),
  description: z.string().nullable(),
  status: z.enum(["completed", "reversed"]),
  created_at: timestamp,
  reversed_at: timestamp.nullable(),
});

export const PayoutResponse = z.object({
  payout_id: z.string(),
  wallet_id: z.string(),
  amount: amountOut,
  currency: z.string(),
  rail: z.string().describe("ach, card, paypal, venmo or check"),
  destination: z.record(z.string(), z.string()),
  description: z.string().nullable(),
  status: z.enum(["processing", "pending", "completed", "failed", "cancelled"]),
  failure_code: z.string().nullable(),
  provider_reference: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export function userView(u: User): z.output<typeof UserResponse> {
  return { user_id: u.userId, email: u.email, first_name: u.firstName, last_name: u.lastName, created_at: iso(u.createdAt) };
}

export function walletView(w: Wallet): z.output<typeof WalletResponse> {
  return { wallet_id: w.walletId, user_id: w.userId, currency: w.currency, balance: formatAmount(w.balance, w.currency), created_at: iso(w.createdAt) };
}

export function paymentView(p: Payment): z.output<typeof PaymentResponse> {
  return {
    payment_id: p.paymentId,
    from_wallet_id: p.fromWalletId,
    to_wallet_id: p.toWalletId,
    amount: formatAmount(p.amount, p.currency),
    currency: p.currency,
    description: p.description,
    status: p.status,
    created_at: iso(p.createdAt),
    reversed_at: p.reversedAt === null ? null : iso(p.reversedAt),
  };
}

export function payoutView(p: Payout): z.output<typeof PayoutResponse> {
  return {
    payout_id: p.payoutId,
    wallet_id: p.walletId,
    amount: formatAmount(p.amount, p.currency),
    currency: p.currency,
    rail: p.rail,
    destination: p.destination,
    description: p.description,
    status: p.status,
    failure_code: p.failureCode,
    provider_reference: p.providerReference,
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}

/** Throws not_found unless the principal owns the resource: someone else's looks absent. */
export function requireOwned<T extends { userId: string }>(thing: T | null, userId: string, what: string): T {
  if (!thing || thing.userId !== userId) throw new GatewayError("not_found", `${what} not found.`);
  return thing;
}
