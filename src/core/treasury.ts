/**
 * @module
 * What an API client reads of its own treasury (GET /v1/treasury/...): its treasury wallets and
 * their ledger entries. A wallet that is not this client's treasury wallet (another client's, a
 * user's, none) is not_found, so ids of others' wallets are not confirmed.
 */
import type { Wallet } from "../ports/ledger.js";
import { type Page, type PageRequest, UnknownCursorError } from "../ports/paging.js";
import type { Store } from "../ports/store.js";
import { treasuryHolderId } from "../ports/treasury.js";
import type { LedgerEntry } from "../ports/wallet-admin.js";
import { GatewayError } from "./errors.js";

export class ClientTreasury {
  constructor(private readonly store: Store) {}

  /** The client's treasury wallets, oldest first. */
  wallets(clientId: number): Promise<Wallet[]> {
    return this.store.treasury.listTreasuryWallets(clientId);
  }

  /** A page of the wallet's entries, newest first; the cursor is an entry id of this wallet. */
  async entries(clientId: number, walletId: string, page: PageRequest): Promise<{ wallet: Wallet; page: Page<LedgerEntry> }> {
    const wallet = await this.store.ledger.getWallet(walletId);
    if (!wallet || wallet.userId !== treasuryHolderId(clientId)) throw new GatewayError("not_found", `No treasury wallet ${walletId}.`);
    try {
      return { wallet, page: await this.store.ledger.listWalletEntries(walletId, page) };
    } catch (e) {
      if (e instanceof UnknownCursorError) {
        throw new GatewayError("invalid_body", `starting_after ${JSON.stringify(e.cursor)} is not an entry of this wallet.`, undefined, { field: "query.starting_after" });
      }
      throw e;
    }
  }
}
