/**
 * @module
 * Read-only calls: /user, /wallet/find, /wallet/list, /payment/find, /payout/find.
 */
import { z } from "zod";
import { GatewayError } from "../core/errors.js";
import { defineHandler, type HandlerDef } from "../core/call-contract.js";
import {
  idParam,
  PaymentResponse,
  PayoutResponse,
  paymentView,
  payoutView,
  requireOwned,
  UserResponse,
  userView,
  WalletListResponse,
  WalletResponse,
  walletView,
} from "./shapes.js";

export const lookupHandlers: HandlerDef[] = [
  defineHandler({
    name: "/user",
    compensation: "none",
    summary: "The access token's user.",
    auth: "user",
    readOnly: true,
    scope: "user:read",
    schema: z.strictObject({}),
    response: UserResponse,
    async run(_p, ctx) {
      const user = await ctx.services.ledger.getUser(ctx.principal!.userId);
      if (!user) throw new GatewayError("not_found", "User not found.");
      return userView(user);
    },
  }),
  defineHandler({
    name: "/wallet/find",
    compensation: "none",
    summary: "One of the user's wallets with its balance.",
    auth: "user",
    readOnly: true,
    scope: "wallets:read",
    schema: z.strictObject({ wallet_id: idParam("wal") }),
    response: WalletResponse,
    async run(p, ctx) {
      const w = await ctx.services.ledger.getWallet(p.wallet_id);
      return walletView(requireOwned(w, ctx.principal!.userId, "Wallet"));
    },
  }),
  defineHandler({
    name: "/wallet/list",
    compensation: "none",
    summary: "All of the user's wallets.",
    auth: "user",
    readOnly: true,
    scope: "wallets:read",
    schema: z.strictObject({}),
    response: WalletListResponse,
    async run(_p, ctx) {
      const wallets = await ctx.services.ledger.listWallets(ctx.principal!.userId);
      return { wallets: wallets.map(walletView) };
    },
  }),
  defineHandler({
    name: "/payment/find",
    compensation: "none",
    summary: "A payment the user made or received.",
    auth: "user",
    readOnly: true,
    scope: "payments:read",
    schema: z.strictObject({ payment_id: idParam("pay") }),
    response: PaymentResponse,
    async run(p, ctx) {
      const { ledger } = ctx.services;
      const payment = await ledger.getPayment(p.payment_id);
      const me = ctx.principal!.userId;
      if (payment && payment.userId !== me) {
        // The payee may read it too.
        const to = await ledger.getWallet(payment.toWalletId);
        if (to?.userId === me) return paymentView(payment);
      }
      return paymentView(requireOwned(payment, me, "Payment"));
    },
  }),
  defineHandler({
    name: "/payout/find",
    compensation: "none",
    summary: "One of the user's payouts.",
    auth: "user",
    readOnly: true,
    scope: "payouts:read",
    schema: z.strictObject({ payout_id: idParam("po") }),
    response: PayoutResponse,
    async run(p, ctx) {
      const payout = await ctx.services.ledger.getPayout(p.payout_id);
      return payoutView(requireOwned(payout, ctx.principal!.userId, "Payout"));
    },
  }),
];
