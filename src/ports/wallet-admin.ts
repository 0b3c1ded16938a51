/**
 * @module
 * What operators do to wallets (the admin API): fund from `system:funding` exactly once per
 * funding id, freeze and unfreeze, and read a wallet's ledger entries. Like every money
 * movement, funding checks the wallet's status inside its own transaction or script.
 */
import type { Wallet, WalletStatus } from "./ledger.js";
import type { Page, PageRequest } from "./paging.js";

export interface Funding {
  fundingId: string;
  walletId: string;
  /** Minor units, positive. */
  amount: number;
  currency: string;
  reason: string;
  createdAt: number;
}

/** A funding to make: its id names it, so asking again never credits twice. */
export type FundRequest = Funding;

export type FundOutcome =
  /** `replayed`: the funding id existed, and that earlier funding is returned; nothing moved now. */
  | { ok: true; funding: Funding; wallet: Wallet; replayed: boolean }
  | { ok: false; reason: "not_found" | "currency_mismatch" | "wallet_frozen" };

export interface LedgerEntry {
  /** `ent_<sequence>`: increasing in the order entries were written. */
  entryId: string;
  account: string;
  /** Minor units, signed: negative leaves the account. */
  amount: number;
  kind: string;
  refId: string;
  createdAt: number;
}

export interface WalletAdminOps {
  /**
   * Credits the wallet from system:funding atomically, once per fundingId: when that funding
   * exists it is returned (replayed) and nothing moves, whatever this request asked.
   */
  fundWallet(req: FundRequest): Promise<FundOutcome>;
  /** Sets the wallet's status; null when the wallet does not exist. */
  setWalletStatus(walletId: string, status: WalletStatus): Promise<Wallet | null>;
  /** The wallet's ledger entries, newest first; the cursor is an entry id. Throws UnknownCursorError. */
  listWalletEntries(walletId: string, page: PageRequest): Promise<Page<LedgerEntry>>;
}
