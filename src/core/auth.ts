/**
 * @module
 * Verifying API clients and access tokens. Only hashes are stored; a client secret is compared
 * in constant time, and an unknown client costs the same hash as a known one.
 */
import type { Clock, SecretHasher } from "../ports/runtime.js";
import type { ClientRecord, ClientStore, TokenStore } from "../ports/credentials.js";
import { GatewayError } from "./errors.js";
import type { Principal } from "./call-contract.js";
import { timingSafeEqual } from "./secrets.js";

// A hash no secret produces, compared against when the client does not exist.
const ABSENT_HASH = "0".repeat(64);

export class Authenticator {
  constructor(
    private readonly clients: ClientStore,
    private readonly tokens: TokenStore,
    private readonly hasher: SecretHasher,
    private readonly clock: Clock,
  ) {}

  hash(secret: string): Promise<string> | string {
    return this.hasher.sha256Hex(secret);
  }

  /** Throws invalid_client unless the id exists and the secret matches its stored hash. */
  async verifyClient(clientId: number, secret: string): Promise<ClientRecord> {
    const [client, hash] = await Promise.all([this.clients.findClient(clientId), this.hasher.sha256Hex(secret)]);
    const ok = timingSafeEqual(hash, client?.secretHash ?? ABSENT_HASH);
    if (!client || !ok || client.status === "disabled") throw new GatewayError("invalid_client");
    return client;
  }

  /** Resolves a token (by its hash) to a principal; throws invalid_token otherwise. */
  async principalFor(tokenHash: string): Promise<Principal> {
    const t = await this.tokens.findToken(tokenHash);
    if (!t || t.revoked || (t.expiresAt !== null && t.expiresAt <= this.clock.now())) {
      throw new GatewayError("invalid_token");
    }
    return { userId: t.userId, scopes: new Set(t.scopes) };
  }
}

/** Parses `Authorization: Basic base64(id:secret)`; null when absent or not Basic. */
export function parseBasicAuth(header: string | undefined): { clientId: string; secret: string } | null {
  if (!header || !/^basic /i.test(header)) return null;
  let decoded: string;
  try {
    decoded = atob(header.slice(6).trim());
  } catch {
    return { clientId: "", secret: "" };
  }
  const i = decoded.indexOf(":");
  if (i < 0) return { clientId: "", secret: "" };
  return { clientId: decoded.slice(0, i), secret: decoded.slice(i + 1) };
}

/** Parses `Authorization: Bearer <token>`; null when absent or another scheme. */
export function parseBearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : null;
}
