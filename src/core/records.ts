/**
 * @module
 * Record shapes ⇄ flat field maps, written once for every store: the SQL store selects its
 * columns under these field names (`user_id AS userId`), the Redis store keeps these fields in
 * hashes (or a JSON object of them). Reading is strict: a field that is not what the record needs
 * is a corrupt store, never a silently wrong value.
 */
import type { ClientRecord, ClientStatus, TokenRecord } from "../ports/credentials.js";
import type { IdempotencyRecord } from "../ports/idempotency.js";
import type { Payment, PaymentStatus, Payout, PayoutFailureKind, PayoutStatus, User, Wallet, WalletStatus } from "../ports/ledger.js";

/** A value as a store hands it back: SQL gives numbers and null, Redis gives strings and leaves absent fields out. */
export type FieldValue = string | number | null | undefined;
export type Fields = Record<string, FieldValue>;
/** What a store writes: a null field is stored as NULL (SQL) or left out (Redis). */
export type FlatRecord = Record<string, string | number | null>;

export class CorruptRecordError extends Error {
  constructor(message: string) {
    super(`corrupt store: ${message}`);
    this.name = "CorruptRecordError";
  }
}

function str(f: Fields, name: string, what: string): string {
  const v = f[name];
  if (v === undefined || v === null) throw new CorruptRecordError(`${what}.${name} is missing`);
  return String(v);
}

function optStr(f: Fields, name: string): string | null {
  const v = f[name];
  return v === undefined || v === null ? null : String(v);
}

function int(f: Fields, name: string, what: string): number {
  const v = f[name];
  const n = typeof v === "number" ? v : v === undefined || v === null || v === "" ? NaN : Number(v);
  if (!Number.isSafeInteger(n)) throw new CorruptRecordError(`${what}.${name} is not an integer (${String(v)})`);
  return n;
}

function optInt(f: Fields, name: string, what: string): number | null {
  return f[name] === undefined || f[name] === null ? null : int(f, name, what);
}

function oneOf<T extends string>(f: Fields, name: string, what: string, values: readonly T[]): T {
  const v = str(f, name, what);
  if (!(values as readonly string[]).includes(v)) throw new CorruptRecordError(`${what}.${name} is ${JSON.stringify(v)}`);
  return v as T;
}

const PAYMENT_STATUSES: readonly PaymentStatus[] = ["completed", "reversed"];
const PAYOUT_STATUSES: readonly PayoutStatus[] = ["processing", "pending", "completed", "failed", "cancelled"];
const FAILURE_KINDS: readonly PayoutFailureKind[] = ["declined", "unavailable"];
const CLIENT_STATUSES: readonly ClientStatus[] = ["active", "disabled"];
const WALLET_STATUSES: readonly WalletStatus[] = ["active", "frozen"];

/** A status field that records written before statuses existed do not have: absent is the first value. */
function statusOr<T extends string>(f: Fields, name: string, what: string, values: readonly T[]): T {
  return f[name] === undefined || f[name] === null ? values[0] : oneOf(f, name, what, values);
}

/** The id of a token written without one: derived from its hash (the SQL migration backfills the same). */
export function tokenIdOf(tokenHash: string): string {
  return `tok_${tokenHash.slice(0, 26)}`;
}

export const clientRecord = {
  fields: ["clientId", "name", "secretHash", "status", "createdAt"] as const,
  from: (f: Fields): ClientRecord => ({
    clientId: int(f, "clientId", "client"),
    name: str(f, "name", "client"),
    secretHash: str(f, "secretHash", "client"),
    status: statusOr(f, "status", "client", CLIENT_STATUSES),
    createdAt: int(f, "createdAt", "client"),
  }),
  to: (c: ClientRecord): FlatRecord => ({ clientId: c.clientId, name: c.name, secretHash: c.secretHash, status: c.status ?? "active", createdAt: c.createdAt }),
};

export const tokenRecord = {
  fields: ["tokenHash", "tokenId", "userId", "scopes", "expiresAt", "revoked", "revokedAt", "createdAt"] as const,
  from: (f: Fields): TokenRecord => ({
    tokenHash: str(f, "tokenHash", "token"),
    tokenId: optStr(f, "tokenId") ?? tokenIdOf(str(f, "tokenHash", "token")),
    userId: str(f, "userId", "token"),
    scopes: str(f, "scopes", "token").split(" ").filter(Boolean),
    expiresAt: optInt(f, "expiresAt", "token"),
    revoked: int(f, "revoked", "token") === 1,
    revokedAt: optInt(f, "revokedAt", "token"),
    createdAt: int(f, "createdAt", "token"),
  }),
  to: (t: TokenRecord): FlatRecord => ({
    tokenHash: t.tokenHash,
    tokenId: t.tokenId ?? tokenIdOf(t.tokenHash),
    userId: t.userId,
    scopes: t.scopes.join(" "),
    expiresAt: t.expiresAt,
    revoked: t.revoked ? 1 : 0,
    revokedAt: t.revokedAt ?? null,
    createdAt: t.createdAt,
  }),
};

export const userRecord = {
  fields: ["userId", "email", "firstName", "lastName", "createdAt"] as const,
  from: (f: Fields): User => ({
    userId: str(f, "userId", "user"),
    email: str(f, "email", "user"),
    firstName: str(f, "firstName", "user"),
    lastName: str(f, "lastName", "user"),
    createdAt: int(f, "createdAt", "user"),
  }),
  to: (u: User): FlatRecord => ({ userId: u.userId, email: u.email, firstName: u.firstName, lastName: u.lastName, createdAt: u.createdAt }),
};

export const walletRecord = {
  fields: ["walletId", "userId", "currency", "balance", "status", "createdAt"] as const,
  from: (f: Fields): Wallet => ({
    walletId: str(f, "walletId", "wallet"),
    userId: str(f, "userId", "wallet"),
    currency: str(f, "currency", "wallet"),
    balance: int(f, "balance", "wallet"),
    status: statusOr(f, "status", "wallet", WALLET_STATUSES),
    createdAt: int(f, "createdAt", "wallet"),
  }),
  to: (w: Wallet): FlatRecord => ({ walletId: w.walletId, userId: w.userId, currency: w.currency, balance: w.balance, status: w.status ?? "active", createdAt: w.createdAt }),
};

export const paymentRecord = {
  fields: ["paymentId", "userId", "fromWalletId", "toWalletId", "amount", "currency", "description", "status", "createdAt", "reversedAt"] as const,
  from: (f: Fields): Payment => ({
    paymentId: str(f, "paymentId", "payment"),
    userId: str(f, "userId", "payment"),
    fromWalletId: str(f, "fromWalletId", "payment"),
    toWalletId: str(f, "toWalletId", "payment"),
    amount: int(f, "amount", "payment"),
    currency: str(f, "currency", "payment"),
    description: optStr(f, "description"),
    status: oneOf(f, "status", "payment", PAYMENT_STATUSES),
    createdAt: int(f, "createdAt", "payment"),
    reversedAt: optInt(f, "reversedAt", "payment"),
  }),
  to: (p: Payment): FlatRecord => ({
    paymentId: p.paymentId,
    userId: p.userId,
    fromWalletId: p.fromWalletId,
    toWalletId: p.toWalletId,
    amount: p.amount,
    currency: p.currency,
    description: p.description,
    status: p.status,
    createdAt: p.createdAt,
    reversedAt: p.reversedAt,
  }),
};

export const payoutRecord = {
  fields: [
    "payoutId",
    "userId",
    "walletId",
    "amount",
    "currency",
    "rail",
    "destination",
    "description",
    "status",
    "failureCode",
    "failureKind",
    "providerReference",
    "createdAt",
    "updatedAt",
  ] as const,
  from: (f: Fields): Payout => {
    let destination: Record<string, string>;
    try {
      destination = JSON.parse(str(f, "destination", "payout")) as Record<string, string>;
    } catch {
      throw new CorruptRecordError("payout.destination is not JSON");
    }
    return {
      payoutId: str(f, "payoutId", "payout"),
      userId: str(f, "userId", "payout"),
      walletId: str(f, "walletId", "payout"),
      amount: int(f, "amount", "payout"),
      currency: str(f, "currency", "payout"),
      rail: str(f, "rail", "payout"),
      destination,
      description: optStr(f, "description"),
      status: oneOf(f, "status", "payout", PAYOUT_STATUSES),
      failureCode: optStr(f, "failureCode"),
      failureKind: f.failureKind === undefined || f.failureKind === null ? null : oneOf(f, "failureKind", "payout", FAILURE_KINDS),
      providerReference: optStr(f, "providerReference"),
      createdAt: int(f, "createdAt", "payout"),
      updatedAt: int(f, "updatedAt", "payout"),
    };
  },
  to: (p: Payout): FlatRecord => ({
    payoutId: p.payoutId,
    userId: p.userId,
    walletId: p.walletId,
    amount: p.amount,
    currency: p.currency,
    rail: p.rail,
    destination: JSON.stringify(p.destination),
    description: p.description,
    status: p.status,
    failureCode: p.failureCode,
    failureKind: p.failureKind,
    providerReference: p.providerReference,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  }),
};

export const idempotencyRecord = {
  fields: ["state", "fingerprint", "owner", "status", "body", "lockedUntil", "expiresAt"] as const,
  from: (f: Fields): IdempotencyRecord => {
    const state = oneOf(f, "state", "idempotency record", ["in_flight", "completed"] as const);
    return {
      state,
      fingerprint: str(f, "fingerprint", "idempotency record"),
      owner: optStr(f, "owner") ?? "",
      response: state === "completed" ? { status: int(f, "status", "idempotency record"), body: str(f, "body", "idempotency record") } : null,
      lockedUntil: int(f, "lockedUntil", "idempotency record"),
      expiresAt: int(f, "expiresAt", "idempotency record"),
    };
  },
  to: (r: IdempotencyRecord): FlatRecord => ({
    state: r.state,
    fingerprint: r.fingerprint,
    owner: r.owner,
    status: r.response?.status ?? null,
    body: r.response?.body ?? null,
    lockedUntil: r.lockedUntil,
    expiresAt: r.expiresAt,
  }),
};
