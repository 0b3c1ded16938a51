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
  /** findClient answered synchronously, by a store that reads synchronously (the SQLite store). */
  findClientSync?(clientId: number): ClientRecord | null;
}

export interface TokenStore {
  /** Also bumps the credentials version, in the same transaction or script. */
  createToken(token: TokenRecord): Promise<void>;
  findToken(tokenHash: string): Promise<TokenRecord | null>;
  /**
   * Revokes the token (recording `now` as its revocation time) and bumps the credentials version
   * in the same transaction or script; true when this call revoked it, false when it is unknown
   * or was already revoked.
   */
  revokeToken(tokenHash: string, now: number): Promise<boolean>;
  /**
   * Sets the token's expiry to `at` (epoch ms; it stops working from then on) and bumps the
   * credentials version in the same transaction or script. False when no such token exists.
   */
  expireToken(tokenHash: string, at: number): Promise<boolean>;
  /**
   * An opaque value that changes whenever any token is created, revoked or re-expired (and that
   * never comes back after a wipe of the store: it carries a random epoch). Null when the store
   * has none yet. A cache of principals is exact as long as it is used only while this value
   * equals the one read before the cached records were read.
   */
  credentialsVersion(): Promise<string | null>;
  /**
   * The same value read synchronously, offered only by stores that can (SQL): inside a read
   * snapshot it is read in the same transaction as the reads after it.
   */
  credentialsVersionSync?(): string | null;
}
