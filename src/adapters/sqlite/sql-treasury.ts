/**
 * @module
 * The SQL store's TreasuryStore (src/ports/treasury.ts): a client's treasury wallets are ordinary
 * rows of `wallets` held by the `cli_<clientId>` holder (a `users` row, as the wallets' foreign
 * key needs), indexed one per client and currency by `treasury_wallets`; users' default payout
 * destinations per rail live in `default_destinations`. Every write runs in one transaction
 * (BEGIN IMMEDIATE on better-sqlite3, so concurrent callers, in-process or not, serialize).
 */
import type { User, Wallet } from "../../ports/ledger.js";
import { type DefaultDestination, isTreasuryHolder, treasuryHolderId, type TreasuryStore } from "../../ports/treasury.js";
import { type Fields, walletRecord } from "../../core/records.js";
import type { SqlDriver, SqlRow } from "./driver.js";

/** Migration 10: the treasury index and default destinations. */
export const TREASURY_MIGRATION_SQL = `
CREATE TABLE treasury_wallets (
  client_id INTEGER NOT NULL, currency TEXT NOT NULL, wallet_id TEXT NOT NULL UNIQUE REFERENCES wallets(wallet_id),
  created_at INTEGER NOT NULL, PRIMARY KEY (client_id, currency));
CREATE TABLE default_destinations (
  user_id TEXT NOT NULL REFERENCES users(user_id), rail TEXT NOT NULL, destination TEXT NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (user_id, rail));
`;

/** The treasury holder's user row (the contract in the payouts brief). */
export function treasuryHolder(clientId: number, now: number): User {
  return {
    userId: treasuryHolderId(clientId),
    email: `treasury+${clientId}@clients.batchgate.invalid`,
    firstName: `Client ${clientId}`,
    lastName: "Treasury",
    createdAt: now,
  };
}

const WALLET_COLUMNS = "w.wallet_id AS walletId, w.user_id AS userId, w.currency AS currency, w.balance AS balance, w.status AS status, w.created_at AS createdAt";

const SQL = {
  treasuryWallet: `SELECT ${WALLET_COLUMNS} FROM treasury_wallets t JOIN wallets w ON w.wallet_id = t.wallet_id WHERE t.client_id = ? AND t.currency = ?`,
  treasuryWallets: `SELECT ${WALLET_COLUMNS} FROM treasury_wallets t JOIN wallets w ON w.wallet_id = t.wallet_id WHERE t.client_id = ? ORDER BY w.created_at, w.wallet_id`,
  userWallet: `SELECT ${WALLET_COLUMNS} FROM wallets w WHERE w.user_id = ? AND w.currency = ? ORDER BY w.created_at, w.wallet_id LIMIT 1`,
  wallet: `SELECT ${WALLET_COLUMNS} FROM wallets w WHERE w.wallet_id = ?`,
  userExists: "SELECT 1 AS one FROM users WHERE user_id = ?",
  insertUserIfAbsent: "INSERT INTO users (user_id, email, first_name, last_name, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(user_id) DO NOTHING",
  insertWallet: "INSERT INTO wallets (wallet_id, user_id, currency, balance, status, created_at) VALUES (?, ?, ?, 0, 'active', ?)",
  insertTreasury: "INSERT INTO treasury_wallets (client_id, currency, wallet_id, created_at) VALUES (?, ?, ?, ?)",
  upsertDestination: `INSERT INTO default_destinations (user_id, rail, destination, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT(user_id, rail) DO UPDATE SET destination = excluded.destination, updated_at = excluded.updated_at`,
  destination: "SELECT rail, destination, updated_at FROM default_destinations WHERE user_id = ? AND rail = ?",
  destinations: "SELECT rail, destination, updated_at FROM default_destinations WHERE user_id = ? ORDER BY rail",
} as const;

function destinationOf(r: SqlRow): DefaultDestination {
  return { rail: String(r.rail), destination: JSON.parse(String(r.destination)) as Record<string, string>, updatedAt: Number(r.updated_at) };
}

/** `db` is read at each call, like sqlAdminOps. */
export function sqlTreasury(db: () => SqlDriver): TreasuryStore {
  const wallet = (sql: string, params: (string | number)[]): Wallet | null => {
    const r = db().get<Fields>(sql, params);
    return r ? walletRecord.from(r) : null;
  };
  return {
    openTreasuryWallet: async (clientId, walletId, currency, now) =>
      db().transaction(() => {
        const existing = wallet(SQL.treasuryWallet, [clientId, currency]);
        if (existing) return { wallet: existing, opened: false };
        const h = treasuryHolder(clientId, now);
        db().run(SQL.insertUserIfAbsent, [h.userId, h.email, h.firstName, h.lastName, h.createdAt]);
        db().run(SQL.insertWallet, [walletId, h.userId, currency, now]);
        db().run(SQL.insertTreasury, [clientId, currency, walletId, now]);
        return { wallet: wallet(SQL.wallet, [walletId])!, opened: true };
      }),
    listTreasuryWallets: async (clientId) => db().all<Fields>(SQL.treasuryWallets, [clientId]).map(walletRecord.from),
    treasuryWallet: async (clientId, currency) => wallet(SQL.treasuryWallet, [clientId, currency]),
    ensureUserWallet: async (userId, currency, walletId, now) =>
      db().transaction(() => {
        if (isTreasuryHolder(userId) || !db().get(SQL.userExists, [userId])) return null;
        const existing = wallet(SQL.userWallet, [userId, currency]);
        if (existing) return { wallet: existing, opened: false };
        db().run(SQL.insertWallet, [walletId, userId, currency, now]);
        return { wallet: wallet(SQL.wallet, [walletId])!, opened: true };
      }),
    setDefaultDestination: async (userId, rail, destination, now) =>
      db().transaction(() => {
        if (!db().get(SQL.userExists, [userId])) return false;
        db().run(SQL.upsertDestination, [userId, rail, JSON.stringify(destination), now]);
        return true;
      }),
    defaultDestination: async (userId, rail) => {
      const r = db().get<SqlRow>(SQL.destination, [userId, rail]);
      return r ? destinationOf(r) : null;
    },
    listDefaultDestinations: async (userId) => db().all<SqlRow>(SQL.destinations, [userId]).map(destinationOf),
  };
}
