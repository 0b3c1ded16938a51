/**
 * @module
 * The Redis store's TreasuryStore (src/ports/treasury.ts), behaving like the SQL store's
 * (src/adapters/sqlite/sql-treasury.ts) under the same contract suite. A treasury wallet is an
 * ordinary wallet (the `wallet:`, `balances`, `user_wallets:` keys of redis-store.ts) held by the
 * `cli_<clientId>` holder, whose user record is written with it. Keys, under the store's
 * `{prefix}:v1:` (see the layout table in redis-store.ts):
 *
 * | key                          | type | content                                                   |
 * |------------------------------|------|-----------------------------------------------------------|
 * | `treasury:<clientId>`        | hash | currency → walletId (one treasury wallet per currency)    |
 * | `destinations:<userId>`      | hash | rail → JSON `{destination, updatedAt}`                    |
 *
 * Opening a treasury wallet is one script (check the index, write holder, wallet and index).
 * ensureUserWallet is one script too: it is given the user's wallet ids as read just before (and
 * their keys, so every key it touches is declared), checks that the user's wallet set is still
 * exactly that, and either answers the oldest wallet in the currency or opens one; when the set
 * changed meanwhile it answers `retry` and the caller reads again. So concurrent calls for the
 * same user and currency end with one wallet.
 */
import type { Redis } from "ioredis";
import { userRecord } from "../../core/records.js";
import type { Wallet } from "../../ports/ledger.js";
import { type DefaultDestination, isTreasuryHolder, treasuryHolderId, type TreasuryStore } from "../../ports/treasury.js";

const ATTEMPTS = 50;

/**
 * KEYS: treasury index, holder user, wallet, holder's user_wallets, balances
 * ARGV: currency, walletId, holder user JSON, createdAt, holder id
 * Returns {'exists', walletId} or {'opened', walletId}.
 */
const OPEN_TREASURY = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {'exists', existing} end
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('HEXISTS', KEYS[5], ARGV[2]) == 1 then
  return redis.error_reply('ERR batchgate: duplicate wallet id ' .. ARGV[2])
end
redis.call('SET', KEYS[2], ARGV[3], 'NX')
redis.call('HSET', KEYS[3], 'walletId', ARGV[2], 'userId', ARGV[5], 'currency', ARGV[1], 'createdAt', ARGV[4])
redis.call('HSET', KEYS[5], ARGV[2], '0')
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'opened', ARGV[2]}
`;

/**
 * KEYS: user, user_wallets, new wallet, balances, ...the wallet keys of the ids read (in order)
 * ARGV: userId, currency, walletId, createdAt, count of ids read, ...the ids read (zset order)
 * Returns {'no_user'}, {'retry'} (the user's wallets changed since read), {'exists', walletId}
 * (the oldest in the currency) or {'opened', walletId}.
 */
const ENSURE_WALLET = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_user'} end
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
local n = tonumber(ARGV[5])
if #ids ~= n then return {'retry'} end
for i = 1, n do
  if ids[i] ~= ARGV[5 + i] then return {'retry'} end
end
for i = 1, n do
  if redis.call('HGET', KEYS[4 + i], 'currency') == ARGV[2] then return {'exists', ids[i]} end
end
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('HEXISTS', KEYS[4], ARGV[3]) == 1 then
  return redis.error_reply('ERR batchgate: duplicate wallet id ' .. ARGV[3])
end
redis.call('HSET', KEYS[3], 'walletId', ARGV[3], 'userId', ARGV[1], 'currency', ARGV[2], 'createdAt', ARGV[4])
redis.call('HSET', KEYS[4], ARGV[3], '0')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return {'opened', ARGV[3]}
`;

/** KEYS: user, destinations. ARGV: rail, JSON. 0 when the user does not exist. */
const SET_DESTINATION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

const SCRIPTS = {
  bgOpenTreasury: { numberOfKeys: 5, lua: OPEN_TREASURY },
  bgSetDestination: { numberOfKeys: 2, lua: SET_DESTINATION },
} as const;

export function defineTreasuryScripts(redis: Redis): void {
  for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
  // Its number of keys varies with the user's wallets: given per call.
  redis.defineCommand("bgEnsureWallet", { lua: ENSURE_WALLET });
}

export interface RedisTreasuryDeps {
  redis: () => Redis;
  key: (...parts: string[]) => string;
  getWallet: (walletId: string) => Promise<Wallet | null>;
}

function time(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`now must be a finite number, got ${n}`);
  return String(n);
}

function destinationOf(rail: string, json: string): DefaultDestination {
  const v = JSON.parse(json) as { destination: Record<string, string>; updatedAt: number };
  return { rail, destination: v.destination, updatedAt: v.updatedAt };
}

export function redisTreasury(deps: RedisTreasuryDeps): TreasuryStore {
  const { key } = deps;
  const k = {
    treasury: (clientId: number) => key("treasury", String(clientId)),
    destinations: (userId: string) => key("destinations", userId),
    user: (userId: string) => key("user", userId),
    wallet: (walletId: string) => key("wallet", walletId),
    userWallets: (userId: string) => key("user_wallets", userId),
    balances: () => key("balances"),
  };
  const call = (name: string, ...args: (string | number)[]) =>
    (deps.redis() as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[name].call(deps.redis(), ...args);
  const mustWallet = async (walletId: string): Promise<Wallet> => {
    const w = await deps.getWallet(walletId);
    if (!w) throw new Error(`corrupt store: wallet ${walletId} is indexed but missing`);
    return w;
  };

  return {
    openTreasuryWallet: async (clientId, walletId, currency, now) => {
      const holder = treasuryHolderId(clientId);
      const user = {
        userId: holder,
        email: `treasury+${clientId}@clients.batchgate.invalid`,
        firstName: `Client ${clientId}`,
        lastName: "Treasury",
        createdAt: now,
      };
      const r = (await call(
        "bgOpenTreasury",
        k.treasury(clientId),
        k.user(holder),
        k.wallet(walletId),
        k.userWallets(holder),
        k.balances(),
        currency,
        walletId,
        JSON.stringify(userRecord.to(user)),
        time(now),
        holder,
      )) as [string, string];
      return { wallet: await mustWallet(r[1]), opened: r[0] === "opened" };
    },
    listTreasuryWallets: async (clientId) => {
      const ids = Object.values(await deps.redis().hgetall(k.treasury(clientId)));
      const wallets = await Promise.all(ids.map(mustWallet));
      return wallets.sort((a, b) => a.createdAt - b.createdAt || (a.walletId < b.walletId ? -1 : a.walletId > b.walletId ? 1 : 0));
    },
    treasuryWallet: async (clientId, currency) => {
      const id = await deps.redis().hget(k.treasury(clientId), currency);
      return id === null ? null : mustWallet(id);
    },
    ensureUserWallet: async (userId, currency, walletId, now) => {
      if (isTreasuryHolder(userId)) return null;
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const ids = await deps.redis().zrange(k.userWallets(userId), "0", "-1");
        const keys = [k.user(userId), k.userWallets(userId), k.wallet(walletId), k.balances(), ...ids.map(k.wallet)];
        const r = (await call("bgEnsureWallet", keys.length, ...keys, userId, currency, walletId, time(now), ids.length, ...ids)) as string[];
        if (r[0] === "no_user") return null;
        if (r[0] === "retry") continue;
        return { wallet: await mustWallet(r[1]), opened: r[0] === "opened" };
      }
      throw new Error(`the wallets of ${userId} kept changing; gave up after ${ATTEMPTS} attempts`);
    },
    setDefaultDestination: async (userId, rail, destination, now) =>
      Number(await call("bgSetDestination", k.user(userId), k.destinations(userId), rail, JSON.stringify({ destination, updatedAt: now }))) === 1,
    defaultDestination: async (userId, rail) => {
      const v = await deps.redis().hget(k.destinations(userId), rail);
      return v === null ? null : destinationOf(rail, v);
    },
    listDefaultDestinations: async (userId) => {
      const h = await deps.redis().hgetall(k.destinations(userId));
      return Object.keys(h)
        .sort()
        .map((rail) => destinationOf(rail, h[rail]));
    },
  };
}
