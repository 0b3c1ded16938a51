/**
 * @module
 * Payout rail provider port: sends money to an external rail (ach, card, paypal, venmo, check).
 */

export const PAYOUT_RAILS = ["ach", "card", "paypal", "venmo", "check"] as const;
export type PayoutRail = (typeof PAYOUT_RAILS)[number];

export interface RailPayout {
  payoutId: string;
  rail: PayoutRail;
  amount: number;
  currency: string;
  destination: Record<string, string>;
}

export type RailResult =
  | { status: "completed"; providerReference: string }
  | { status: "pending"; providerReference: string }
  | { status: "declined"; reason: string }
  | { status: "unavailable"; reason: string };

export interface RailProvider {
  send(payout: RailPayout, signal: AbortSignal): Promise<RailResult>;
}
