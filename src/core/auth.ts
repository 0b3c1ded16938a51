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

/** Principals kept at most; the cache starts over when full. */
const PRINCIPAL_CACHE_MAX = 100_000;

/**
 * The credentials version read once at the start of a batch (TokenStore.credentialsVersion).
 * Principals are served from the cache only while it equals the version the cache was filled
 * under, so a revocation committed before the read is always seen.
 */
export interface AuthSession {
  readonly version: string | null;
}

interface CachedPrincipal {
  principal: Principal;
  expiresAt: number | null;
}

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

  /**
   * A batch's client verified from the client cache (filled under the current cache version) when
   * the admission will read the credentials version synchronously; otherwise from the store. A
   * cached verification is provisional: `confirm` is then given to the engine, which calls it
   * with the batch's session before admitting any call. It passes when the session's version is
   * the one the cache was filled under (no credential changed since), and otherwise reads the
   * client again; it throws invalid_client (or service_unavailable) to refuse the whole batch.
   * A secret that does not match the cached record is checked against the store, never refused
   * from the cache.
   */
  async verifyBatchClient(clientId: number, secret: string): Promise<{ client: ClientRecord; confirm?: (session: AuthSession | undefined) => void }> {
    const findSync = this.clients.findClientSync;
    const hash = this.hasher.sha256Hex(secret);
    if (findSync === undefined || !this.hasSyncSession || typeof hash !== "string") return { client: await this.verifyClient(clientId, secret) };
    const under = this.cacheVersion;
    const hit = under === null ? undefined : this.clientCache.get(clientId);
    if (hit && timingSafeEqual(hash, hit.secretHash) && hit.status !== "disabled") {
      return { client: hit, confirm: (session) => this.confirmClient(session, under, clientId, hash) };
    }
    const client = await this.verifyClient(clientId, secret);
    // Read after `under` was current: at least as new as that version.
    if (under !== null && under === this.cacheVersion) this.clientCache.set(clientId, client);
    return { client };
  }

  private confirmClient(session: AuthSession | undefined, under: string | null, clientId: number, hash: string): void {
    if (session !== undefined && session.version !== null && session.version === under) return;
    let client: ClientRecord | null;
    try {
      client = this.clients.findClientSync!(clientId);
    } catch {
      throw new GatewayError("service_unavailable", "The credentials store is unavailable; nothing ran.");
    }
    const ok = timingSafeEqual(hash, client?.secretHash ?? ABSENT_HASH);
    if (!client || !ok || client.status === "disabled") throw new GatewayError("invalid_client");
    if (session !== undefined && session.version !== null && session.version === this.cacheVersion) this.clientCache.set(clientId, client);
  }

  private readonly cache = new Map<string, CachedPrincipal>();
  /** Client records, under the same version as the principals (emptied with them). */
  private readonly clientCache = new Map<number, ClientRecord>();
  private cacheVersion: string | null = null;

  /**
   * Reads the credentials version (one store read) for the calls about to be admitted. When it
   * differs from the version the cache was filled under, the cache is emptied first.
   */
  async session(): Promise<AuthSession> {
    return this.sessionAt(await this.tokens.credentialsVersion());
  }

  /** Whether sessionSync() can answer (the token store reads its version synchronously). */
  get hasSyncSession(): boolean {
    return this.tokens.credentialsVersionSync !== undefined;
  }

  /**
   * session() without a promise, for a store that reads its version synchronously (check
   * hasSyncSession first); throws what the store's read throws. Called inside a read snapshot,
   * the version and the token reads after it share one transaction.
   */
  sessionSync(): AuthSession {
    return this.sessionAt(this.tokens.credentialsVersionSync!());
  }

  private sessionAt(version: string | null): AuthSession {
    if (version !== this.cacheVersion) {
      this.cache.clear();
      this.clientCache.clear();
      this.cacheVersion = version;
    }
    return { version };
  }

  /**
   * Resolves a token (by its hash) to a principal; throws invalid_token otherwise. With a session
   * whose version is still current, a cached principal is used (synchronously) and its expiry is
   * checked against the clock; otherwise the token is read from the store, and cached only if
   * the session is still current: the record was read after the version, so it is at least as
   * new as that version. Only valid tokens are cached.
   */
  principalFor(tokenHash: string, session?: AuthSession): Principal | Promise<Principal> {
    const current = session !== undefined && session.version !== null && session.version === this.cacheVersion;
    if (current) {
      const hit = this.cache.get(tokenHash);
      if (hit) {
        if (hit.expiresAt !== null && hit.expiresAt <= this.clock.now()) throw new GatewayError("invalid_token");
        return hit.principal;
      }
    }
    return this.tokens.findToken(tokenHash).then((t) => {
      if (!t || t.revoked || (t.expiresAt !== null && t.expiresAt <= this.clock.now())) {
        throw new GatewayError("invalid_token");
      }
      const principal: Principal = { userId: t.userId, scopes: new Set(t.scopes) };
      if (current && session.version === this.cacheVersion) {
        if (this.cache.size >= PRINCIPAL_CACHE_MAX) this.cache.clear();
        this.cache.set(tokenHash, { principal, expiresAt: t.expiresAt });
      }
      return principal;
    });
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
