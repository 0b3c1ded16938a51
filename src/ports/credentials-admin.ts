/**
 * @module
 * What operators do to API clients and access tokens (the admin API): allocate, disable, rotate,
 * list and look up by id. Each change that can end a credential's validity also bumps the
 * credentials version in the same transaction or script, so a cache of principals sees it.
 */
import type { ClientRecord, ClientStatus, TokenRecord } from "./credentials.js";
import type { Page, PageRequest } from "./paging.js";

/** The first id createNextClient hands out. */
export const FIRST_CLIENT_ID = 100001;

export interface ClientAdminOps {
  /** Creates a client under the next free id (from 100001 up, never reused). */
  createNextClient(client: Omit<ClientRecord, "clientId">): Promise<ClientRecord>;
  /** Sets the status; null when the client does not exist. */
  setClientStatus(clientId: number, status: ClientStatus): Promise<ClientRecord | null>;
  /** Replaces the stored secret hash (the old secret stops working); null when the client does not exist. */
  rotateClientSecret(clientId: number, secretHash: string): Promise<ClientRecord | null>;
}

export interface TokenAdminOps {
  findTokenById(tokenId: string): Promise<TokenRecord | null>;
  /** A user's tokens, newest first; the cursor is a token id. Throws UnknownCursorError. */
  listUserTokens(userId: string, page: PageRequest): Promise<Page<TokenRecord>>;
}
