/**
 * @module
 * API clients and access tokens: only hashes of their secrets are stored.
 */

export interface ClientRecord {
  clientId: number;
  name: string;
  /** sha256 hex of the client secret; the secret itself is never stored. */
  secretHash: string;
  createdAt: number;
}

export interface TokenRecord {
  /** sha256 hex of the access token; the token itself is never stored. */
  tokenHash: string;
  userId: string;
  scopes: string[];
  /** Epoch ms, or null for a token that does not expire. */
  expiresAt: number | null;
  revoked: boolean;
  createdAt: number;
}

export interface ClientStore {
  createClient(client: ClientRecord): Promise<void>;
  findClient(clientId: number): Promise<ClientRecord | null>;
}

export interface TokenStore {
  createToken(token: TokenRecord): Promise<void>;
  findToken(tokenHash: string): Promise<TokenRecord | null>;
}
