/**
 * @module
 * Read-only calls: /user, /wallet/find, /wallet/list, /payment/find, /payout/find. Each has the
 * same body twice, over the store's promises (run) and over its synchronous reads (runSync).
 */
import { GatewayError } from "../core/errors.js";
import { defineHandler, type HandlerDef } from "../core/call-contract.js";
import type { Payment, User, Wallet } from "../ports/ledger.js";
import {
  idLookup,
  noParams,
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

function userFound(user: User | null) {
  if (!user) throw new GatewayError("not_found", "User not found.");
  return userView(user);
}

/** A payment is seen by its payer, and by the owner of the wallet it paid (`payee`). */
function paymentSeenBy(payment: Payment | null, payee: Wallet | null, me: string) {
  if (payment && payment.userId !== me && payee?.userId === me) return paymentView(payment);
  return paymentView(requireOwned(payment, me, "Payment"));
}

export const lookupHandlers: HandlerDef[] = [
  defineHandler({
    name: "/user",
    compensation: "none",
    summary: "The access token's user.",
    auth: "user",
    readOnly: true,
    scope: "user:read",
    ...noParams,
    response: UserResponse,
    async run(_p, ctx) {
      return userFound(await ctx.services.ledger.getUser(ctx.principal!.userId));
    },
    runSync(_p, ctx) {
      return userFound(ctx.reads.getUser(ctx.principal!.userId));
    },
  }),
  defineHandler({
    name: "/wallet/find",
    compensation: "none",
    summary: "One of the user's wallets with its balance.",
    auth: "user",
    readOnly: true,
    scope: "wallets:read",
    ...idLookup("wallet_id", "wal"),
    response: WalletResponse,
    async run(p, ctx) {
      return walletView(requireOwned(await ctx.services.ledger.getWallet(p.wallet_id), ctx.principal!.userId, "Wallet"));
    },
    runSync(p, ctx) {
      return walletView(requireOwned(ctx.reads.getWallet(p.wallet_id), ctx.principal!.userId, "Wallet"));
    },
  }),
  defineHandler({
    name: "/wallet/list",
    compensation: "none",
    summary: "All of the user's wallets.",
    auth: "user",
    readOnly: true,
    scope: "wallets:read",
    ...noParams,
    response: WalletListResponse,
    async run(_p, ctx) {
      return { wallets: (await ctx.services.ledger.listWallets(ctx.principal!.userId)).map(walletView) };
    },
    runSync(_p, ctx) {
      return { wallets: ctx.reads.listWallets(ctx.principal!.userId).map(walletView) };
    },
  }),
  defineHandler({
    name: "/payment/find",
    compensation: "none",
    summary: "A payment the user made or received.",
    auth: "user",
    readOnly: true,
    scope: "payments:read",
    ...idLookup("payment_id", "pay"),
    response: PaymentResponse,
    async run(p, ctx) {
      const { ledger } = ctx.services;
      const payment = await ledger.getPayment(p.payment_id);
      const me = ctx.principal!.userId;
      // The payee may read it too.
      const payee = payment && payment.userId !== me ? await ledger.getWallet(payment.toWalletId) : null;
      return paymentSeenBy(payment, payee, me);
    },
    runSync(p, ctx) {
      const payment = ctx.reads.getPayment(p.payment_id);
      const me = ctx.principal!.userId;
      const payee = payment && payment.userId !== me ? ctx.reads.getWallet(payment.toWalletId) : null;
      return paymentSeenBy(payment, payee, me);
    },
  }),
  defineHandler({
    name: "/payout/find",
    compensation: "none",
    summary: "One of the user's payouts.",
    auth: "user",
    readOnly: true,
    scope: "payouts:read",
    ...idLookup("payout_id", "po"),
    response: PayoutResponse,
    async run(p, ctx) {
      return payoutView(requireOwned(await ctx.services.ledger.getPayout(p.payout_id), ctx.principal!.userId, "Payout"));
    },
    runSync(p, ctx) {
      return payoutView(requireOwned(ctx.reads.getPayout(p.payout_id), ctx.principal!.userId, "Payout"));
    },
  }),
];
