/**
 * @module
 * API clients and access tokens: only hashes of their secrets are stored.
 */

/** A disabled client's credentials fail invalid_client everywhere. */
export type ClientStatus = "active" | "disabled";

export interface ClientRecord {
  clientId: number;
  name: string;
  /** Absent when written means active. */
  status?: ClientStatus;
  /** sha256 hex of the client secret; the secret itself is never stored. */
  secretHash: string;
  createdAt: number;
}

export interface TokenRecord {
  /** sha256 hex of the access token; the token itself is never stored. */
  tokenHash: string;
  /** The id operators name the token by (`tok_…`); absent when written, it is derived from the hash (tokenIdOf). */
  tokenId?: string;
  userId: string;
  scopes: string[];
  /** Epoch ms, or null for a token that does not expire. */
  expiresAt: number | null;
  revoked: boolean;
  /** When it was revoked (epoch ms); null while it is not. */
  revokedAt?: number | null;
  createdAt: number;
}

export interface ClientStore {
  createClient(client: ClientRecord): Promise<void>;
  findClient(clientId: number): Promise<ClientRecord | null>;
}

export interface TokenStore {
  createToken(token: TokenRecord): Promise<void>;
  findToken(tokenHash: string): Promise<TokenRecord | null>;
  /**
   * Revokes the token and bumps the credentials version in the same transaction or script; true
   * when this call revoked it, false when it is unknown or was already revoked.
   */
  revokeToken(tokenHash: string, now: number): Promise<boolean>;
}
