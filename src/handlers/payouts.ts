/**
 * @module
 * Payouts from a wallet to an external rail: /payout/create and /payout/cancel.
 *
 * The wallet is debited into the payouts-in-flight account before the rail is asked, so money
 * can never leave twice; the rail's answer then settles it (completed, pending) or refunds it
 * (declined, unavailable, aborted).
 */
import { z } from "zod";
import { GatewayError } from "../core/errors.js";
import { defineHandler, type HandlerDef } from "../core/call-contract.js";
import { newId } from "../core/ids.js";
import type { PayoutFailureKind } from "../ports/ledger.js";
import type { PayoutRail, RailResult } from "../ports/rails.js";
import { amountParam, currencyParam, descriptionParam, idParam, PayoutResponse, payoutView, requireOwned, withMinorUnits } from "./shapes.js";

const text = (max: number) => z.string().min(1).max(max);
const common = { wallet_id: idParam("wal"), amount: amountParam, currency: currencyParam, description: descriptionParam };

/** Each rail's destination shape: what /payout/create, payout items and default destinations take. */
export const PAYOUT_DESTINATIONS = {
  ach: z.strictObject({
    routing_number: z.string().regex(/^\d{9}$/, "must be 9 digits"),
    account_number: z.string().regex(/^\d{4,17}$/, "must be 4 to 17 digits"),
  }),
  card: z.strictObject({ card_token: z.string().regex(/^ctok_[A-Za-z0-9]{8,64}$/, "must be a card token (ctok_...)") }),
  paypal: z.strictObject({ email: z.email().max(254) }),
  venmo: z.strictObject({ handle: z.string().regex(/^@[A-Za-z0-9_-]{2,30}$/, "must be a Venmo handle (@name)") }),
  check: z.strictObject({ name: text(100), address: text(300) }),
} as const satisfies Record<PayoutRail, z.ZodType<Record<string, string>>>;

export const CreatePayout = z
  .discriminatedUnion("rail", [
    z.strictObject({ ...common, rail: z.literal("ach"), destination: PAYOUT_DESTINATIONS.ach }),
    z.strictObject({ ...common, rail: z.literal("card"), destination: PAYOUT_DESTINATIONS.card }),
    z.strictObject({ ...common, rail: z.literal("paypal"), destination: PAYOUT_DESTINATIONS.paypal }),
    z.strictObject({ ...common, rail: z.literal("venmo"), destination: PAYOUT_DESTINATIONS.venmo }),
    z.strictObject({ ...common, rail: z.literal("check"), destination: PAYOUT_DESTINATIONS.check }),
  ])
  .transform(withMinorUnits);

/** The rail's answer decides the error: it declined (its "no"), or it could not be reached. */
function railFailure(payoutId: string, kind: PayoutFailureKind, reason: string): GatewayError {
  if (kind === "declined") {
    return new GatewayError("payout_declined", `The rail declined payout ${payoutId} (${reason}); the wallet was refunded.`);
  }
  return new GatewayError("rail_unavailable", `The rail did not take payout ${payoutId} (${reason}); the wallet was refunded.`);
}

export const payoutHandlers: HandlerDef[] = [
  defineHandler({
    name: "/payout/create",
    summary: "Send money from one of the user's wallets to an external rail (ach, card, paypal, venmo, check).",
    auth: "user",
    scope: "payouts:write",
    schema: CreatePayout,
    response: PayoutResponse,
    async run(p, ctx) {
      const { ledger, rails, clock } = ctx.services;
      const userId = ctx.principal!.userId;
      requireOwned(await ledger.getWallet(p.wallet_id), userId, "Wallet");
      ctx.signal.throwIfAborted();
      const now = clock.now();
      const payoutId = ctx.ref ? `po_${ctx.ref}` : newId("po", now);
      const begun = await ledger.beginPayout({
        payoutId,
        userId,
        walletId: p.wallet_id,
        amount: p.minor,
        currency: p.currency,
        rail: p.rail,
        destination: p.destination as Record<string, string>,
        description: p.description ?? null,
        now,
      });
      if (!begun.ok) throw new GatewayError(begun.reason);
      // Named after an idempotency ref and already past the rail: answer as the first time did.
      const earlier = begun.payout;
      if (earlier.status === "failed") throw railFailure(payoutId, earlier.failureKind ?? "unavailable", earlier.failureCode ?? "rail_error");
      if (earlier.status !== "processing") return payoutView(earlier);

      const answer: RailResult = await rails
        .send({ payoutId, rail: p.rail, amount: p.minor, currency: p.currency, destination: p.destination }, ctx.signal)
        .catch((): RailResult => ({ status: "unavailable", reason: "rail_error" }));
      if (answer.status === "completed" || answer.status === "pending") {
        const settled = await ledger.settlePayout(payoutId, { status: answer.status, providerReference: answer.providerReference }, clock.now());
        return payoutView(settled!);
      }
      const kind: PayoutFailureKind = answer.status === "declined" ? "declined" : "unavailable";
      await ledger.settlePayout(payoutId, { status: "failed", failureCode: answer.reason, failureKind: kind }, clock.now());
      throw railFailure(payoutId, kind, answer.reason);
    },
    // In an atomic batch that fails later: a payout still pending is cancelled (refunded); one the
    // rail has completed cannot be taken back, and says so.
    async compensate(payout, ctx) {
      const out = await ctx.services.ledger.cancelPayout(payout.payout_id, ctx.services.clock.now());
      if (out.ok) return;
      if (out.reason === "payout_not_cancellable") {
        const now = await ctx.services.ledger.getPayout(payout.payout_id);
        if (now?.status === "cancelled") return;
        throw new GatewayError("payout_not_cancellable", `Payout ${payout.payout_id} is ${now?.status ?? "gone"}; only a pending payout can be cancelled, so it was not compensated.`);
      }
      throw new GatewayError(out.reason);
    },
  }),
  defineHandler({
    name: "/payout/cancel",
    summary: "Cancel a pending payout and refund its wallet.",
    auth: "user",
    scope: "payouts:write",
    schema: z.strictObject({ payout_id: idParam("po") }),
    response: PayoutResponse,
    async run(p, ctx) {
      const { ledger, clock } = ctx.services;
      requireOwned(await ledger.getPayout(p.payout_id), ctx.principal!.userId, "Payout");
      ctx.signal.throwIfAborted();
      const out = await ledger.cancelPayout(p.payout_id, clock.now());
      if (!out.ok) throw new GatewayError(out.reason);
      return payoutView(out.payout);
    },
  }),
];
