/**
 * @module
 * Mass payouts' ledger side: the wallets an API client owns (its treasury), recipients' wallets
 * opened on demand, and users' default payout destinations per rail.
 *
 * A client's treasury wallets are ordinary ledger wallets (same balance rules, entries, funding,
 * freeze) held by the client's treasury holder, whose id is `treasuryHolderId(clientId)`
 * (`cli_<client id>`): a ledger account holder that is never an end user, has no tokens, and is
 * never a payout recipient. One treasury wallet per client and currency.
 */
import type { Wallet } from "./ledger.js";

/** The ledger holder of a client's treasury wallets. */
export function treasuryHolderId(clientId: number): string {
  return `cli_${clientId}`;
}

/** Whether a holder id names a client's treasury (not an end user). */
export function isTreasuryHolder(userId: string): boolean {
  return userId.startsWith("cli_");
}

export interface DefaultDestination {
  rail: string;
  /** Rail-specific destination, stored as given (the same shapes /payout/create takes). */
  destination: Record<string, string>;
  updatedAt: number;
}

export interface TreasuryStore {
  /**
   * Opens the client's treasury wallet in `currency` as `walletId` (creating the treasury holder
   * when needed), in one transaction / script; when the client already has one in that currency
   * it is returned with `opened: false` and nothing is written.
   */
  openTreasuryWallet(clientId: number, walletId: string, currency: string, now: number): Promise<{ wallet: Wallet; opened: boolean }>;
  /** The client's treasury wallets, oldest first. */
  listTreasuryWallets(clientId: number): Promise<Wallet[]>;
  /** The client's treasury wallet in `currency`, or null. */
  treasuryWallet(clientId: number, currency: string): Promise<Wallet | null>;
  /**
   * The user's wallet in `currency` (the oldest when there are several), opening one as `walletId`
   * when there is none, in one transaction / script: concurrent calls for the same user and
   * currency end with one wallet. null when the user does not exist or is a treasury holder.
   */
  ensureUserWallet(userId: string, currency: string, walletId: string, now: number): Promise<{ wallet: Wallet; opened: boolean } | null>;
  /** Sets (replaces) the user's default destination on `rail`; false when the user does not exist. */
  setDefaultDestination(userId: string, rail: string, destination: Record<string, string>, now: number): Promise<boolean>;
  /** The user's default destination on `rail`, or null. */
  defaultDestination(userId: string, rail: string): Promise<DefaultDestination | null>;
  /** Every default destination of the user, by rail name. */
  listDefaultDestinations(userId: string): Promise<DefaultDestination[]>;
}
