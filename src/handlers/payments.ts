/**
 * @module
 * Wallet-to-wallet payments: /payment/create and /payment/reverse, over the ledger.
 */
import { z } from "zod";
import { GatewayError } from "../core/errors.js";
import { defineHandler, type HandlerDef } from "../core/call-contract.js";
import { newId } from "../core/ids.js";
import { amountParam, currencyParam, descriptionParam, idParam, PaymentResponse, paymentView, requireOwned, withMinorUnits } from "./shapes.js";

export const CreatePayment = z
  .strictObject({
    from_wallet_id: idParam("wal"),
    to_wallet_id: idParam("wal"),
    amount: amountParam,
    currency: currencyParam,
    description: descriptionParam,
  })
  .transform(withMinorUnits);

export const paymentHandlers: HandlerDef[] = [
  defineHandler({
    name: "/payment/create",
    summary: "Pay from one of the user's wallets to any wallet in the same currency.",
    auth: "user",
    scope: "payments:write",
    schema: CreatePayment,
    response: PaymentResponse,
    async run(p, ctx) {
      const { ledger, clock } = ctx.services;
      const userId = ctx.principal!.userId;
      if (p.from_wallet_id === p.to_wallet_id) throw new GatewayError("same_wallet");
      requireOwned(await ledger.getWallet(p.from_wallet_id), userId, "Wallet");
      // A call that has already timed out must not move money afterwards.
      ctx.signal.throwIfAborted();
      const now = clock.now();
      const out = await ledger.transfer({
        paymentId: ctx.ref ? `pay_${ctx.ref}` : newId("pay", now),
        userId,
        fromWalletId: p.from_wallet_id,
        toWalletId: p.to_wallet_id,
        amount: p.minor,
        currency: p.currency,
        description: p.description ?? null,
        now,
      });
      if (!out.ok) {
        if (out.reason === "not_found") throw new GatewayError("not_found", "Destination wallet not found.");
        throw new GatewayError(out.reason);
      }
      return paymentView(out.payment);
    },
    // In an atomic batch that fails later: the payment is reversed.
    async compensate(payment, ctx) {
      const out = await ctx.services.ledger.reversePayment(payment.payment_id, ctx.services.clock.now());
      if (out.ok || out.reason === "payment_not_reversible") return;
      if (out.reason === "insufficient_funds") {
        throw new GatewayError("insufficient_funds", `The payee's wallet no longer holds the amount of ${payment.payment_id}; it was not reversed.`);
      }
      throw new GatewayError(out.reason);
    },
  }),
  defineHandler({
    name: "/payment/reverse",
    summary: "Return a completed payment's amount from the payee to the payer (payer only, once).",
    auth: "user",
    scope: "payments:write",
    schema: z.strictObject({ payment_id: idParam("pay") }),
    response: PaymentResponse,
    async run(p, ctx) {
      const { ledger, clock } = ctx.services;
      requireOwned(await ledger.getPayment(p.payment_id), ctx.principal!.userId, "Payment");
      ctx.signal.throwIfAborted();
      const out = await ledger.reversePayment(p.payment_id, clock.now());
      if (!out.ok) {
        if (out.reason === "insufficient_funds") {
          throw new GatewayError("insufficient_funds", "The payee's wallet no longer holds the amount; nothing was moved.");
        }
        throw new GatewayError(out.reason);
      }
      return paymentView(out.payment);
    },
  }),
];
