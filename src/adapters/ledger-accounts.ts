/**
 * @module
 * Ledger account names shared by every store implementation (SQL and Redis), so an audit reads
 * the same system accounts whichever store wrote them. Wallet accounts are the wallet id itself.
 */

/** Where demo/initial funding comes from: goes negative by the total funded. */
export const SYSTEM_FUNDING = "system:funding";
/** Money debited from wallets for payouts the rail has not settled (processing or pending). */
export const SYSTEM_PAYOUTS_IN_FLIGHT = "system:payouts_in_flight";
/** Money that left through a rail (completed payouts), one account per rail. */
export const railAccount = (rail: string) => `system:rail:${rail}`;
/** Every system account starts with this; wallet ids never do. */
export const SYSTEM_ACCOUNT_PREFIX = "system:";
