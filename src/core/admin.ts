/**
 * @module
 * Provisioning, written once for the admin API (routes/admin) and the demo seed
 * (src/demo-data.ts): API clients, users, access tokens, wallets and their funding, freezing, and
 * the audit log. Secrets are made here, returned once to the caller, and stored as hashes.
 *
 * Every successful change made for an operator (`by` given) is written to the audit log after
 * it happened; the seed passes no actor and is not audited entry by entry.
 */
import type { ClientRecord, TokenRecord } from "../ports/credentials.js";
import type { User, Wallet } from "../ports/ledger.js";
import { type Page, type PageRequest, UnknownCursorError } from "../ports/paging.js";
import type { Clock, SecretHasher } from "../ports/runtime.js";
import type { Store } from "../ports/store.js";
import type { Funding, LedgerEntry } from "../ports/wallet-admin.js";
import type { AuditRecord } from "../ports/audit.js";
import { type DefaultDestination, isTreasuryHolder } from "../ports/treasury.js";
import { GatewayError } from "./errors.js";
import { newId } from "./ids.js";
import { isSupportedCurrency, parseAmount } from "./money.js";
import { newSecret } from "./secrets.js";

/** Who acts and under which request, for the audit log. */
export interface AdminActor {
  actor: string;
  requestId: string;
}

export type TokenStatus = "active" | "revoked" | "expired";

export interface FundResult {
  funding: Funding;
  wallet: Wallet;
  replayed: boolean;
}

/** A token's status at `now`: revoked wins over expired. */
export function tokenStatus(t: TokenRecord, now: number): TokenStatus {
  if (t.revoked) return "revoked";
  if (t.expiresAt !== null && t.expiresAt <= now) return "expired";
  return "active";
}

const field = (name: string) => ({ field: `body.${name}` });

/** A treasury wallet as opened (or found) by the admin API, with the funding the request asked for. */
export interface TreasuryOpenResult {
  wallet: Wallet;
  /** False when the client already had a treasury wallet in that currency (it is returned). */
  opened: boolean;
  funding: FundResult | null;
}

/** 422 treasury_holder_not_allowed for a `cli_` holder, saying why (`what`). */
export function refuseTreasuryHolder(userId: string, what: string) {
  if (isTreasuryHolder(userId)) {
    throw new GatewayError("treasury_holder_not_allowed", `${userId} is a client's treasury holder: ${what}.`, undefined, { field: "param.user_id" });
  }
}

export class AdminService {
  constructor(
    private readonly store: Store,
    private readonly hasher: SecretHasher,
    private readonly clock: Clock,
  ) {}

  now(): number {
    return this.clock.now();
  }

  private async audit(by: AdminActor | undefined, action: string, target: string, details: Record<string, unknown> = {}) {
    if (!by) return;
    const now = this.clock.now();
    await this.store.audit.append({ auditId: newId("aud", now), actor: by.actor, action, target, requestId: by.requestId, details, createdAt: now });
  }

  async createClient(name: string, by?: AdminActor): Promise<{ client: ClientRecord; clientSecret: string }> {
    const clientSecret = newSecret("cs_");
    const client = await this.store.clients.createNextClient({ name, secretHash: await this.hasher.sha256Hex(clientSecret), status: "active", createdAt: this.clock.now() });
    await this.audit(by, "client.create", String(client.clientId), { name });
    return { client, clientSecret };
  }

  async rotateClientSecret(clientId: number, by?: AdminActor): Promise<{ client: ClientRecord; clientSecret: string }> {
    const clientSecret = newSecret("cs_");
    const client = await this.store.clients.rotateClientSecret(clientId, await this.hasher.sha256Hex(clientSecret));
    if (!client) throw new GatewayError("not_found", `No client ${clientId}.`);
    await this.audit(by, "client.rotate_secret", String(clientId));
    return { client, clientSecret };
  }

  async disableClient(clientId: number, by?: AdminActor): Promise<ClientRecord> {
    const client = await this.store.clients.setClientStatus(clientId, "disabled");
    if (!client) throw new GatewayError("not_found", `No client ${clientId}.`);
    await this.audit(by, "client.disable", String(clientId));
    return client;
  }

  async createUser(u: { email: string; firstName: string; lastName: string }, by?: AdminActor): Promise<User> {
    const now = this.clock.now();
    const user: User = { userId: newId("usr", now), email: u.email, firstName: u.firstName, lastName: u.lastName, createdAt: now };
    await this.store.ledger.createUser(user);
    await this.audit(by, "user.create", user.userId, { email: u.email });
    return user;
  }

  private async requireUser(userId: string): Promise<User> {
    const user = await this.store.ledger.getUser(userId);
    if (!user) throw new GatewayError("not_found", `No user ${userId}.`);
    return user;
  }

  private async requireWallet(walletId: string): Promise<Wallet> {
    const wallet = await this.store.ledger.getWallet(walletId);
    if (!wallet) throw new GatewayError("not_found", `No wallet ${walletId}.`);
    return wallet;
  }

  /** `expiresAt` (epoch ms) must be in the future; null for a token that does not expire. */
  async issueToken(userId: string, t: { scopes: string[]; expiresAt: number | null }, by?: AdminActor): Promise<{ token: TokenRecord; accessToken: string }> {
    refuseTreasuryHolder(userId, "it gets no access tokens (its client acts with its client credentials)");
    await this.requireUser(userId);
    const now = this.clock.now();
    if (t.expiresAt !== null && t.expiresAt <= now) throw new GatewayError("invalid_body", "expires_at must be in the future.", undefined, field("expires_at"));
    const accessToken = newSecret("at_");
    const token: TokenRecord = {
      tokenHash: await this.hasher.sha256Hex(accessToken),
      tokenId: newId("tok", now),
      userId,
      scopes: [...new Set(t.scopes)],
      expiresAt: t.expiresAt,
      revoked: false,
      revokedAt: null,
      createdAt: now,
    };
    await this.store.tokens.createToken(token);
    await this.audit(by, "token.issue", token.tokenId!, { user_id: userId, scopes: token.scopes, expires_at: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString() });
    return { token, accessToken };
  }

  async listTokens(userId: string, page: PageRequest): Promise<Page<TokenRecord>> {
    await this.requireUser(userId);
    return this.paged(() => this.store.tokens.listUserTokens(userId, page));
  }

  /** Revokes at once (its next call fails invalid_token everywhere); revoking a revoked token answers it unchanged. */
  async revokeToken(tokenId: string, by?: AdminActor): Promise<TokenRecord> {
    const token = await this.store.tokens.findTokenById(tokenId);
    if (!token) throw new GatewayError("not_found", `No token ${tokenId}.`);
    if (await this.store.tokens.revokeToken(token.tokenHash, this.clock.now())) await this.audit(by, "token.revoke", tokenId, { user_id: token.userId });
    return (await this.store.tokens.findTokenById(tokenId))!;
  }

  async openWallet(userId: string, currency: string, by?: AdminActor): Promise<Wallet> {
    refuseTreasuryHolder(userId, "its wallets are opened through POST /admin/v1/clients/{client_id}/treasury-wallets");
    await this.requireUser(userId);
    if (!isSupportedCurrency(currency)) throw new GatewayError("invalid_body", `Currency ${currency} is not supported.`, undefined, field("currency"));
    const now = this.clock.now();
    const wallet = await this.store.ledger.createWallet({ walletId: newId("wal", now), userId, currency, createdAt: now }, 0);
    await this.audit(by, "wallet.open", wallet.walletId, { user_id: userId, currency });
    return wallet;
  }

  /**
   * Credits the wallet from system:funding, once per idempotency key: the funding id is named
   * from the key, so a retry returns the first funding and credits nothing. The same key with
   * another wallet, amount or reason is idempotency_key_reused.
   */
  async fundWallet(walletId: string, f: { amount: string; reason: string; idempotencyKey: string }, by?: AdminActor): Promise<FundResult> {
    const fundingId = `fnd_${(await this.hasher.sha256Hex(`funding:${f.idempotencyKey}`)).slice(0, 32)}`;
    const wallet = await this.requireWallet(walletId);
    const amount = parseAmount(f.amount, wallet.currency);
    if (!amount.ok) throw new GatewayError("invalid_body", `amount ${amount.reason}.`, undefined, field("amount"));
    return this.fund(wallet, { fundingId, minor: amount.minor, amount: f.amount, reason: f.reason, keyField: "idempotency_key" }, by);
  }

  /** Credits `wallet` once per funding id; a replay with another wallet, amount or reason is idempotency_key_reused. */
  private async fund(wallet: Wallet, f: { fundingId: string; minor: number; amount: string; reason: string; keyField: string }, by?: AdminActor): Promise<FundResult> {
    const { walletId } = wallet;
    const out = await this.store.ledger.fundWallet({ fundingId: f.fundingId, walletId, amount: f.minor, currency: wallet.currency, reason: f.reason, createdAt: this.clock.now() });
    if (!out.ok) {
      if (out.reason === "wallet_frozen") throw new GatewayError("wallet_frozen", `Wallet ${walletId} is frozen; nothing was credited.`);
      throw new GatewayError(out.reason);
    }
    if (out.replayed && (out.funding.walletId !== walletId || out.funding.amount !== f.minor || out.funding.reason !== f.reason)) {
      const name = f.keyField.split(".").pop();
      throw new GatewayError("idempotency_key_reused", `This ${name} already funded another wallet, amount or reason; nothing was credited.`, undefined, field(f.keyField));
    }
    if (!out.replayed) await this.audit(by, "wallet.fund", walletId, { funding_id: f.fundingId, amount: f.amount, currency: wallet.currency, reason: f.reason });
    return { funding: out.funding, wallet: out.wallet, replayed: out.replayed };
  }

  /**
   * Opens the client's treasury wallet in `currency` (or finds the one it has), then applies the
   * funding when asked: once per funding id, whether the wallet was opened now or before. Every
   * input is checked before anything is written.
   */
  async openTreasuryWallet(
    clientId: number,
    currency: string,
    funding: { amount: string; fundingId: string; reason: string } | undefined,
    by?: AdminActor,
  ): Promise<TreasuryOpenResult> {
    if (!(await this.store.clients.findClient(clientId))) throw new GatewayError("not_found", `No client ${clientId}.`);
    if (!isSupportedCurrency(currency)) throw new GatewayError("invalid_body", `Currency ${currency} is not supported.`, undefined, field("currency"));
    let minor = 0;
    if (funding) {
      const amount = parseAmount(funding.amount, currency);
      if (!amount.ok) throw new GatewayError("invalid_body", `funding.amount ${amount.reason}.`, undefined, field("funding.amount"));
      minor = amount.minor;
    }
    const now = this.clock.now();
    const { wallet, opened } = await this.store.treasury.openTreasuryWallet(clientId, newId("wal", now), currency, now);
    if (opened) await this.audit(by, "treasury.open", wallet.walletId, { client_id: clientId, currency });
    if (!funding) return { wallet, opened, funding: null };
    const funded = await this.fund(wallet, { fundingId: funding.fundingId, minor, amount: funding.amount, reason: funding.reason, keyField: "funding.funding_id" }, by);
    return { wallet: funded.wallet, opened, funding: funded };
  }

  async listTreasuryWallets(clientId: number): Promise<Wallet[]> {
    if (!(await this.store.clients.findClient(clientId))) throw new GatewayError("not_found", `No client ${clientId}.`);
    return this.store.treasury.listTreasuryWallets(clientId);
  }

  /** Sets the user's default destination on `rail` (validated by the caller against the rail's shape). */
  async setDestination(userId: string, rail: string, destination: Record<string, string>, by?: AdminActor): Promise<DefaultDestination> {
    refuseTreasuryHolder(userId, "it is never a payout recipient");
    const now = this.clock.now();
    if (!(await this.store.treasury.setDefaultDestination(userId, rail, destination, now))) throw new GatewayError("not_found", `No user ${userId}.`);
    await this.audit(by, "user.destination.set", userId, { rail });
    return { rail, destination, updatedAt: now };
  }

  async listDestinations(userId: string): Promise<DefaultDestination[]> {
    await this.requireUser(userId);
    return this.store.treasury.listDefaultDestinations(userId);
  }

  async setFrozen(walletId: string, frozen: boolean, by?: AdminActor): Promise<Wallet> {
    const wallet = await this.store.ledger.setWalletStatus(walletId, frozen ? "frozen" : "active");
    if (!wallet) throw new GatewayError("not_found", `No wallet ${walletId}.`);
    await this.audit(by, frozen ? "wallet.freeze" : "wallet.unfreeze", walletId);
    return wallet;
  }

  async listEntries(walletId: string, page: PageRequest): Promise<{ wallet: Wallet; page: Page<LedgerEntry> }> {
    const wallet = await this.requireWallet(walletId);
    return { wallet, page: await this.paged(() => this.store.ledger.listWalletEntries(walletId, page)) };
  }

  async listAudit(page: PageRequest): Promise<Page<AuditRecord>> {
    return this.paged(() => this.store.audit.list(page));
  }

  /** Records what was done outside a single admin action (the demo seed). */
  async record(by: AdminActor, action: string, target: string, details: Record<string, unknown>): Promise<void> {
    await this.audit(by, action, target, details);
  }

  private async paged<T>(list: () => Promise<Page<T>>): Promise<Page<T>> {
    try {
      return await list();
    } catch (e) {
      if (e instanceof UnknownCursorError) {
        throw new GatewayError("invalid_body", `starting_after ${JSON.stringify(e.cursor)} names nothing in this list.`, undefined, { field: "query.starting_after" });
      }
      throw e;
    }
  }
}
