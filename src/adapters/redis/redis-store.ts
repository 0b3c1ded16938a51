/**
 * @module
 * The Redis store: every store port (clients, tokens, ledger, meta, idempotency) over one ioredis
 * client, behaving like the SQL store (src/adapters/sqlite/sql-store.ts) under the same contract
 * suite (test/stores).
 *
 * ## Key layout
 *
 * Every key starts with `{<prefix>}:v1:`. The braces make `<prefix>` the Redis Cluster hash tag,
 * so all of one gateway's keys live in one slot and a multi-key script stays legal on a cluster.
 * `v1` is the layout version (LAYOUT_VERSION): a change to what a key holds gets a new version,
 * so keys written under another layout are never misread (a store under another version reads
 * none of them). Every script also declares each key it touches in KEYS (which is why the
 * idempotency purge runs one small script per record). Records are the flat field maps of
 * src/core/records.ts (absent field = null), the same mapping the SQL store's rows use. With
 * prefix `bg`:
 *
 * | key                             | type   | content                                                  |
 * |---------------------------------|--------|----------------------------------------------------------|
 * | `{bg}:v1:client:<clientId>`     | string | the client's fields as JSON (SET NX: never overwritten)  |
 * | `{bg}:v1:token:<sha256 hex>`    | string | the token's fields as JSON (SET NX)                      |
 * | `{bg}:v1:user:<userId>`         | string | the user's fields as JSON (SET NX)                       |
 * | `{bg}:v1:wallet:<walletId>`     | hash   | walletId, userId, currency, createdAt (immutable)        |
 * | `{bg}:v1:balances`              | hash   | walletId → balance (minor units, integer)                |
 * | `{bg}:v1:user_wallets:<userId>` | zset   | walletId scored by createdAt (ties: walletId bytewise)   |
 * | `{bg}:v1:payment:<paymentId>`   | hash   | the payment's fields                                     |
 * | `{bg}:v1:payout:<payoutId>`     | hash   | the payout's fields; `destination` as JSON               |
 * | `{bg}:v1:accounts`              | hash   | account → running sum of its ledger entries (HINCRBY)    |
 * | `{bg}:v1:entries`               | list   | append-only journal: JSON `[account, amount, kind, ref, createdAt]` (all strings) |
 * | `{bg}:v1:meta`                  | hash   | meta key → value                                         |
 * | `{bg}:v1:idem:<len>:<scope>:<key>` | hash | idempotency record's fields; PEXPIRE'd at retention     |
 * | `{bg}:v1:idem_expiry`           | zset   | idempotency record key scored by its expiresAt           |
 * | `{bg}:v1:pbatch:…`, `pbatch_running`, `pitem:…` | | atomic payment batches' journal (redis-payment-batches.ts) |
 * | `{bg}:v1:wallet_status`         | hash   | walletId → status, for wallets that are not active       |
 *
 * The admin operations' keys (client ids, token ids, fundings, the audit log, the credentials
 * version) are listed in redis-admin.ts.
 * | `{bg}:v1:wh_*`                  |        | webhook endpoints, outbox and attempts: see redis-webhooks.ts |
 * | `{bg}:v1:abatch*`, `ab*`        | …      | asynchronous batches: see redis-batches.ts                |
 * | `{bg}:v1:treasury:*`, `destinations:*` | hash | treasury wallets per client, default destinations: see redis-treasury.ts |
 *
 * ## Money
 *
 * The ledger is double-entry like the SQL store: every movement appends two journal entries that
 * sum to zero (wallet accounts are the wallet id, system accounts are in ledger-accounts.ts) and
 * HINCRBYs the same two running sums, in the same Lua script that checks and changes the balances.
 * Each money operation (createWallet, transfer, reversePayment, beginPayout, settlePayout,
 * cancelPayout) is ONE script: Redis runs a script atomically, so there is no lost update and a
 * balance is checked and debited with nothing in between. Every check happens before the first
 * write, because Redis does not roll back a script that fails halfway. Amounts are integers:
 * validated here (safe integers), passed to Redis as decimal strings, changed with HINCRBY (int64),
 * compared in Lua with tonumber (exact below 2^53); no Lua number is ever turned back into a
 * string, since Lua formats numbers with 14 significant digits.
 *
 * transfer and beginPayout are idempotent by id, like the SQL store: when the payment/payout
 * exists, the script returns it before checking anything else and moves nothing. So a retry after
 * a lost reply (a timeout, a dropped connection) can never pay twice, and reports what happened.
 *
 * The rules are core's: payment and payout transitions and what each moves come from
 * src/core/ledger-rules.ts and are passed into the scripts (allowed statuses, the movement); the
 * idempotency claim decision (src/core/idempotency-rules.ts) is taken in TypeScript on the record
 * read, then written by a compare-and-set script that applies it only if the record is still the
 * one read (retrying otherwise).
 *
 * Redis that cannot be reached (connection down, command timed out, LOADING, READONLY, BUSY...)
 * surfaces as StoreUnavailableError (the caller answers 503); for a money script that means the
 * outcome is unknown, and retrying with the same id is safe.
 *
 * ## Durability
 *
 * A script's writes are atomic, but survive a Redis restart only as far as Redis persists them:
 * run Redis with AOF (`appendonly yes`) and `appendfsync always` for money (`everysec` may lose the
 * last second of acknowledged payments on a power loss or crash of the host); replication is
 * asynchronous, so a failover can lose acknowledged writes too. Without persistence everything
 * is lost on restart.
 */
import type { Redis } from "ioredis";
import { claimedRecord, decideClaim, holdsClaim } from "../../core/idempotency-rules.js";
import { newPayment, newPayout, PAYOUT_MOVEMENTS, paymentStatusesBefore, payoutStatusesBefore } from "../../core/ledger-rules.js";
import {
  clientRecord,
  type Fields,
  type FlatRecord,
  idempotencyRecord,
  paymentRecord,
  payoutRecord,
  tokenRecord,
  userRecord,
  walletRecord,
} from "../../core/records.js";
import type { ClientRecord, ClientStore, TokenRecord, TokenStore } from "../../ports/credentials.js";
import { StoreUnavailableError } from "../../ports/errors.js";
import type { ClaimRef, ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore, StoredResponse } from "../../ports/idempotency.js";
import type {
  BeginPayoutOutcome,
  CancelPayoutOutcome,
  LedgerAudit,
  LedgerStore,
  Payment,
  Payout,
  PayoutRequest,
  PayoutSettlement,
  ReverseOutcome,
  TransferOutcome,
  TransferRequest,
  User,
  Wallet,
} from "../../ports/ledger.js";
import type { MetaStore } from "../../ports/meta.js";
import type { Store } from "../../ports/store.js";
import { SYSTEM_ACCOUNT_PREFIX, SYSTEM_FUNDING, SYSTEM_PAYOUTS_IN_FLIGHT, railAccount } from "../ledger-accounts.js";
import { isRedisUnavailable } from "./client.js";
import type { PaymentBatchStore } from "../../ports/payment-batches.js";
import { redisPaymentBatches } from "./redis-payment-batches.js";
import { defineAdminScripts, redisAdminOps } from "./redis-admin.js";
import type { ClientAdminOps, TokenAdminOps } from "../../ports/credentials-admin.js";
import type { WalletAdminOps } from "../../ports/wallet-admin.js";
import type { AuditStore } from "../../ports/audit.js";
import { tokenIdOf } from "../../core/records.js";
import { WALLET_STATUSES_THAT_MOVE } from "../../core/ledger-rules.js";
import { RedisWebhookStore } from "./redis-webhooks.js";
import { RedisBatchStore } from "./redis-batches.js";
import { defineTreasuryScripts, redisTreasury } from "./redis-treasury.js";
import type { TreasuryStore } from "../../ports/treasury.js";

/** The key layout's version: every key is under `{prefix}:v<LAYOUT_VERSION>:`. */
export const LAYOUT_VERSION = 1;

export interface RedisStoreOptions {
  redis: Redis;
  /** Namespace of every key, used as the cluster hash tag: `{prefix}:...`. No braces allowed. */
  prefix: string;
}

// ---------------------------------------------------------------------------------------------
// Lua. Shared helpers are prepended to the money scripts. KEYS conventions are per script.

const LUA_PRELUDE = `
local MAX = 9007199254740991
local function fail(msg) return redis.error_reply('ERR batchgate: ' .. msg) end
-- A positive integer amount given as a decimal string (validated again here: the script is the boundary).
local function amount_of(s)
  if type(s) ~= 'string' or not string.match(s, '^[1-9]%d*$') or #s > 16 then return nil end
  local n = tonumber(s)
  if n > MAX then return nil end
  return n
end
-- A stored balance; nil when the wallet has none (which a consistent store never shows).
local function balance_of(balances, wallet)
  local b = redis.call('HGET', balances, wallet)
  if not b then return nil end
  return tonumber(b)
end
-- True when status is one of the space-separated statuses (the allowed ones, from core's rules).
local function one_of(status, list)
  return string.find(' ' .. list .. ' ', ' ' .. status .. ' ', 1, true) ~= nil
end
-- True when the wallet's status (absent: active) is one money may move from or to.
local function can_move(statuses, wallet, allowed)
  return one_of(redis.call('HGET', statuses, wallet) or 'active', allowed)
end
local function entry(account, amount, kind, ref, now)
  return cjson.encode({account, amount, kind, ref, now})
end
-- Two entries summing to zero: amount (a positive decimal string) leaves from and arrives in to.
local function move(accounts, entries, from, to, amount, kind, ref, now)
  redis.call('RPUSH', entries, entry(from, '-' .. amount, kind, ref, now), entry(to, amount, kind, ref, now))
  redis.call('HINCRBY', accounts, from, '-' .. amount)
  redis.call('HINCRBY', accounts, to, amount)
end
`;

/**
 * KEYS: wallet, user, user_wallets, balances, accounts, entries
 * ARGV: walletId, userId, currency, funding, createdAt, fundingAccount
 */
const CREATE_WALLET = `${LUA_PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then
  return fail('duplicate wallet id ' .. ARGV[1])
end
if redis.call('EXISTS', KEYS[2]) == 0 then return fail('unknown user ' .. ARGV[2]) end
local funding = ARGV[4]
if funding ~= '0' and not amount_of(funding) then return fail('invalid funding') end
redis.call('HSET', KEYS[1], 'walletId', ARGV[1], 'userId', ARGV[2], 'currency', ARGV[3], 'createdAt', ARGV[5])
redis.call('HSET', KEYS[4], ARGV[1], funding)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
if funding ~= '0' then move(KEYS[5], KEYS[6], ARGV[6], ARGV[1], funding, 'funding', ARGV[1], ARGV[5]) end
return 'ok'
`;

/**
 * KEYS: fromWallet, toWallet, payment, balances, accounts, entries, wallet_status
 * ARGV: fromWalletId, toWalletId, amount, currency, paymentId, now, wallet statuses that move,
 *       ...payment hash field/value pairs
 * Returns 'ok' (paid now), a failure reason, or {'exists', ...payment hash} (paid before: nothing moves).
 */
const TRANSFER = `${LUA_PRELUDE}
if redis.call('EXISTS', KEYS[3]) == 1 then
  local out = redis.call('HGETALL', KEYS[3])
  table.insert(out, 1, 'exists')
  return out
end
local fc = redis.call('HGET', KEYS[1], 'currency')
local tc = redis.call('HGET', KEYS[2], 'currency')
if not fc or not tc then return 'not_found' end
if fc ~= ARGV[4] or tc ~= ARGV[4] then return 'currency_mismatch' end
if not can_move(KEYS[7], ARGV[1], ARGV[7]) or not can_move(KEYS[7], ARGV[2], ARGV[7]) then return 'wallet_frozen' end
local amt = amount_of(ARGV[3])
if not amt then return fail('invalid amount') end
local fb = balance_of(KEYS[4], ARGV[1])
local tb = balance_of(KEYS[4], ARGV[2])
if not fb or not tb then return fail('wallet without balance') end
if fb < amt then return 'insufficient_funds' end
if ARGV[1] ~= ARGV[2] and tb + amt > MAX then return fail('balance would exceed 2^53-1') end
redis.call('HINCRBY', KEYS[4], ARGV[1], '-' .. ARGV[3])
redis.call('HINCRBY', KEYS[4], ARGV[2], ARGV[3])
move(KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3], 'payment', ARGV[5], ARGV[6])
redis.call('HSET', KEYS[3], unpack(ARGV, 8))
return 'ok'
`;

/**
 * KEYS: payment, balances, accounts, entries, wallet_status
 * ARGV: paymentId, now, statuses a payment may be reversed from (space-separated), wallet statuses that move
 * Returns a status string, or {'ok', ...payment hash} on success.
 */
const REVERSE = `${LUA_PRELUDE}
local p = redis.call('HMGET', KEYS[1], 'status', 'fromWalletId', 'toWalletId', 'amount')
if not p[1] then return 'not_found' end
if not one_of(p[1], ARGV[3]) then return 'payment_not_reversible' end
if not can_move(KEYS[5], p[2], ARGV[4]) or not can_move(KEYS[5], p[3], ARGV[4]) then return 'wallet_frozen' end
local amt = amount_of(p[4])
if not amt then return fail('stored payment amount is invalid') end
local fb = balance_of(KEYS[2], p[2])
local tb = balance_of(KEYS[2], p[3])
if not fb or not tb then return fail('wallet without balance') end
if tb < amt then return 'insufficient_funds' end
if p[2] ~= p[3] and fb + amt > MAX then return fail('balance would exceed 2^53-1') end
redis.call('HINCRBY', KEYS[2], p[3], '-' .. p[4])
redis.call('HINCRBY', KEYS[2], p[2], p[4])
move(KEYS[3], KEYS[4], p[3], p[2], p[4], 'reversal', ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'reversed', 'reversedAt', ARGV[2])
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
`;

/**
 * KEYS: wallet, payout, balances, accounts, entries, wallet_status
 * ARGV: walletId, amount, currency, payoutId, now, inFlightAccount, wallet statuses that move,
 *       ...payout hash field/value pairs
 * Returns 'ok' (begun now), a failure reason, or {'exists', ...payout hash} (in whatever state).
 */
const BEGIN_PAYOUT = `${LUA_PRELUDE}
if redis.call('EXISTS', KEYS[2]) == 1 then
  local out = redis.call('HGETALL', KEYS[2])
  table.insert(out, 1, 'exists')
  return out
end
local c = redis.call('HGET', KEYS[1], 'currency')
if not c then return 'not_found' end
if c ~= ARGV[3] then return 'currency_mismatch' end
if not can_move(KEYS[6], ARGV[1], ARGV[7]) then return 'wallet_frozen' end
local amt = amount_of(ARGV[2])
if not amt then return fail('invalid amount') end
local b = balance_of(KEYS[3], ARGV[1])
if not b then return fail('wallet without balance') end
if b < amt then return 'insufficient_funds' end
redis.call('HINCRBY', KEYS[3], ARGV[1], '-' .. ARGV[2])
move(KEYS[4], KEYS[5], ARGV[1], ARGV[6], ARGV[2], 'payout', ARGV[4], ARGV[5])
redis.call('HSET', KEYS[2], unpack(ARGV, 8))
return 'ok'
`;

/**
 * KEYS: payout, balances, accounts, entries
 * ARGV: payoutId, newStatus, detail (providerReference, or failureCode when failing), now,
 *       inFlightAccount, railAccountPrefix, failureKind (when failing), allowed from-statuses
 *       (space-separated), movement target (none|rail|wallet), movement kind
 * Moves the payout to newStatus when its status is an allowed one, and the money as told (both
 * from src/core/ledger-rules.ts). cancelPayout runs it too (newStatus cancelled, no detail).
 * Returns 'not_found', 'not_allowed' (only when ARGV[11] is 'strict'), or {'ok', ...payout hash}
 * (changed or, when not allowed, unchanged).
 */
const MOVE_PAYOUT = `${LUA_PRELUDE}
local to = ARGV[2]
local p = redis.call('HMGET', KEYS[1], 'status', 'walletId', 'amount', 'rail')
if not p[1] then return 'not_found' end
if one_of(p[1], ARGV[8]) then
  local amt = amount_of(p[3])
  if not amt then return fail('stored payout amount is invalid') end
  local target = ARGV[9]
  if target == 'wallet' then
    local b = balance_of(KEYS[2], p[2])
    if not b then return fail('wallet without balance') end
    if b + amt > MAX then return fail('balance would exceed 2^53-1') end
    redis.call('HINCRBY', KEYS[2], p[2], p[3])
    move(KEYS[3], KEYS[4], ARGV[5], p[2], p[3], ARGV[10], ARGV[1], ARGV[4])
  elseif target == 'rail' then
    move(KEYS[3], KEYS[4], ARGV[5], ARGV[6] .. p[4], p[3], ARGV[10], ARGV[1], ARGV[4])
  elseif target ~= 'none' then
    return fail('invalid movement target')
  end
  redis.call('HSET', KEYS[1], 'status', to, 'updatedAt', ARGV[4])
  if to == 'failed' then
    redis.call('HSET', KEYS[1], 'failureCode', ARGV[3], 'failureKind', ARGV[7])
    redis.call('HDEL', KEYS[1], 'providerReference')
  elseif to ~= 'cancelled' then
    redis.call('HSET', KEYS[1], 'providerReference', ARGV[3])
    redis.call('HDEL', KEYS[1], 'failureCode', 'failureKind')
  end
elseif ARGV[11] == 'strict' then
  return 'not_allowed'
end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
`;

/**
 * KEYS: token, user, token_id, user_tokens, credentials_version. ARGV: token JSON, tokenHash,
 * tokenId, createdAt. A token must belong to an existing user (SQL: foreign key); its id names one
 * token; the credentials version is bumped in the same script (the principal cache's key).
 */
const CREATE_TOKEN = `
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('ERR batchgate: unknown user') end
if redis.call('EXISTS', KEYS[3]) == 1 then return redis.error_reply('ERR batchgate: duplicate token id') end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return redis.error_reply('ERR batchgate: duplicate token') end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
redis.call('INCR', KEYS[5])
return 'ok'
`;

/**
 * KEYS: record, expiry index
 * ARGV: expected state, owner, lockedUntil ('' when absent), op (put|del), expiresAt, ttlMs,
 *       ...record field/value pairs (put)
 * Compare-and-set: writes (or deletes) the record only if it is still the one the caller read
 * and decided on (src/core/idempotency-rules.ts); returns 1 if written, 0 if it changed meanwhile.
 */
const IDEM_CAS = `
local r = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lockedUntil')
if (r[1] or '') ~= ARGV[1] or (r[2] or '') ~= ARGV[2] or (r[3] or '') ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[4] == 'del' then
  redis.call('ZREM', KEYS[2], KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], KEYS[1])
return 1
`;

/**
 * KEYS: record, expiry index. ARGV: now
 * Deletes the record when expired on the caller's clock; keeps the index in step either way.
 */
const IDEM_PURGE_ONE = `
local now = tonumber(ARGV[1])
local e = redis.call('HGET', KEYS[1], 'expiresAt')
if not e then redis.call('ZREM', KEYS[2], KEYS[1]) return 0 end
if tonumber(e) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
  return 1
end
redis.call('ZADD', KEYS[2], e, KEYS[1])
return 0
`;

/**
 * KEYS: balances, wallet_status, then one wallet key per id; ARGV: the wallet ids, in that order.
 * Returns the JSON text of one entry per id: false for no such wallet, else [the wallet hash as
 * field/value pairs, balance, status or false]. The wallet reads a process asks for in one tick,
 * in one command and one consistent read; one JSON string costs the client less to decode than a
 * nested reply.
 */
const GET_WALLETS = `
local out = {}
for i = 1, #ARGV do
  local h = redis.call('HGETALL', KEYS[i + 2])
  if #h == 0 then
    out[i] = false
  else
    out[i] = {h, redis.call('HGET', KEYS[1], ARGV[i]) or false, redis.call('HGET', KEYS[2], ARGV[i]) or false}
  end
end
return cjson.encode(out)
`;

/** Wallet reads sent in one GET_WALLETS at most (a script blocks Redis while it runs). */
const WALLET_READS_PER_SCRIPT = 100;

type WalletReply = [string[], string | false, string | false];

const SCRIPTS = {
  // Its number of keys is the first argument of each call.
  bgGetWallets: { numberOfKeys: undefined, lua: GET_WALLETS },
  bgCreateWallet: { numberOfKeys: 6, lua: CREATE_WALLET },
  bgTransfer: { numberOfKeys: 7, lua: TRANSFER },
  bgReversePayment: { numberOfKeys: 5, lua: REVERSE },
  bgBeginPayout: { numberOfKeys: 6, lua: BEGIN_PAYOUT },
  bgMovePayout: { numberOfKeys: 4, lua: MOVE_PAYOUT },
  bgCreateToken: { numberOfKeys: 5, lua: CREATE_TOKEN },
  bgIdemCas: { numberOfKeys: 2, lua: IDEM_CAS },
  bgIdemPurgeOne: { numberOfKeys: 2, lua: IDEM_PURGE_ONE },
} as const;
type ScriptName = keyof typeof SCRIPTS;
type ScriptFn = (...args: string[]) => Promise<unknown>;

const PURGE_BATCH = 500;
/** Compare-and-set rounds before giving up on an idempotency record under heavy contention. */
const CAS_ATTEMPTS = 20;
const AUDIT_CHUNK = 10_000;

// ---------------------------------------------------------------------------------------------
// Validation and (de)serialisation.

function assertTime(n: number, what: string): string {
  if (!Number.isFinite(n)) throw new Error(`${what} must be a finite number, got ${n}`);
  return String(n);
}

function assertDuration(n: number, what: string): number {
  if (!Number.isFinite(n)) throw new Error(`${what} must be a finite number of ms, got ${n}`);
  return Math.ceil(n);
}

function int(s: string | undefined, what: string): number {
  const n = Number(s);
  if (s === undefined || s === "" || !Number.isSafeInteger(n)) throw new Error(`corrupt store: ${what} is not an integer (${s})`);
  return n;
}

/** Hash fields as an ARGV list, leaving out nulls (an absent field reads back as null). */
function fieldList(fields: FlatRecord): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== null) out.push(k, String(v));
  return out;
}

function pairsToHash(flat: unknown[], from = 0): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = from; i + 1 < flat.length; i += 2) h[String(flat[i])] = String(flat[i + 1]);
  return h;
}

/** A hash (or a JSON object of fields) read back: nothing when the key is absent. */
function fieldsOrNull(h: Record<string, string>, idField: string): Fields | null {
  return h[idField] === undefined ? null : h;
}

function walletOf(h: Record<string, string>, balance: string | null, status: string | null): Wallet {
  return walletRecord.from({ ...h, balance: balance ?? undefined, status: status ?? undefined });
}

/** A wallet from GET_WALLETS's answer for it (false or a hash without an id: none). */
function walletFromReply(reply: WalletReply | false): Wallet | null {
  if (reply === false) return null;
  const [pairs, balance, status] = reply;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) h[pairs[i]!] = pairs[i + 1]!;
  return h.walletId === undefined ? null : walletOf(h, balance || null, status || null);
}

/** Every method of a port, with Redis-unreachable errors rethrown as StoreUnavailableError. */
function guarded<T extends object>(port: T, what: string): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(port)) {
    out[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (e) {
        if (isRedisUnavailable(e)) throw new StoreUnavailableError(`Redis unavailable (${what}.${name}): ${(e as Error).message}`, { cause: e });
        throw e;
      }
    };
  }
  return out as T;
}

/** ioredis pipeline/multi results: throw the first error, return the values. */
function results(res: [Error | null, unknown][] | null): unknown[] {
  if (!res) throw new Error("redis transaction aborted");
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

// ---------------------------------------------------------------------------------------------

export class RedisStore implements Store {
  private readonly redis: Redis;
  private readonly prefix: string;
  readonly batches: RedisBatchStore;

  constructor(opts: RedisStoreOptions) {
    if (!opts.prefix || /[{}]/.test(opts.prefix)) throw new Error(`Redis key prefix must be non-empty and contain no braces, got "${opts.prefix}"`);
    this.redis = opts.redis;
    this.prefix = opts.prefix;
    for (const [name, def] of Object.entries(SCRIPTS)) {
      // Idempotent: redefining a name with the same script on a shared client is harmless.
      this.redis.defineCommand(name, { numberOfKeys: def.numberOfKeys, lua: def.lua });
    }
    defineAdminScripts(this.redis);
    defineTreasuryScripts(this.redis);
    this.clients = guarded(this.clients, "clients");
    this.tokens = guarded(this.tokens, "tokens");
    this.idempotency = guarded(this.idempotency, "idempotency");
    this.meta = guarded(this.meta, "meta");
    this.ledger = guarded(this.ledger, "ledger");
    this.paymentBatches = redisPaymentBatches(this.redis, (...parts) => this.key(...parts));
    this.webhooks = new RedisWebhookStore(this.redis, (...parts) => this.key(...parts));
    this.audit = guarded(this.audit, "audit");
    this.treasury = guarded(
      redisTreasury({ redis: () => this.redis, key: (...parts) => this.key(...parts), getWallet: (walletId) => this.ledger.getWallet(walletId) }),
      "treasury",
    );
    this.batches = new RedisBatchStore(this.redis, (...parts) => this.key(...parts));
  }

  /** The atomic payment batches' journal (keys in src/adapters/redis/redis-payment-batches.ts). */
  readonly paymentBatches: PaymentBatchStore;
  readonly webhooks: RedisWebhookStore;
  /** Clients' treasury wallets, recipients' wallets on demand, default destinations (keys in redis-treasury.ts). */
  readonly treasury: TreasuryStore;

  /** `{prefix}:v1:part:part...`: the braces are the cluster hash tag (one slot for all keys). */
  private key(...parts: string[]): string {
    return `{${this.prefix}}:v${LAYOUT_VERSION}:${parts.join(":")}`;
  }

  private readonly k = {
    client: (id: number) => this.key("client", String(id)),
    token: (hash: string) => this.key("token", hash),
    user: (id: string) => this.key("user", id),
    wallet: (id: string) => this.key("wallet", id),
    userWallets: (userId: string) => this.key("user_wallets", userId),
    payment: (id: string) => this.key("payment", id),
    payout: (id: string) => this.key("payout", id),
    balances: () => this.key("balances"),
    accounts: () => this.key("accounts"),
    entries: () => this.key("entries"),
    meta: () => this.key("meta"),
    // Length-prefixed scope so (scope "a:b", key "c") and (scope "a", key "b:c") never collide.
    idem: (scope: string, key: string) => this.key("idem", String(scope.length), scope, key),
    idemExpiry: () => this.key("idem_expiry"),
    walletStatus: () => this.key("wallet_status"),
  };

  private readonly admin = redisAdminOps({
    redis: () => this.redis,
    key: (...parts) => this.key(...parts),
    getWallet: (walletId) => this.ledger.getWallet(walletId),
  });
  readonly audit: AuditStore = this.admin.audit;

  /** Wallet reads asked for in this tick, not yet sent (ledger.getWallet). */
  private walletReads: { walletId: string; resolve: (w: Wallet | null) => void; reject: (e: unknown) => void }[] | null = null;

  private sendWalletReads(): void {
    const reads = this.walletReads ?? [];
    this.walletReads = null;
    for (let at = 0; at < reads.length; at += WALLET_READS_PER_SCRIPT) {
      const part = reads.slice(at, at + WALLET_READS_PER_SCRIPT);
      const ids = part.map((r) => r.walletId);
      const keys = [this.k.balances(), this.k.walletStatus(), ...ids.map((id) => this.k.wallet(id))];
      this.script("bgGetWallets", keys, ids).then(
        (text) => {
          let replies: (WalletReply | false)[];
          try {
            replies = JSON.parse(String(text)) as (WalletReply | false)[];
            if (!Array.isArray(replies) || replies.length !== part.length) throw new Error(`wallet reads: ${part.length} asked, ${String(text).slice(0, 80)} answered`);
          } catch (e) {
            for (const r of part) r.reject(e);
            return;
          }
          for (let i = 0; i < part.length; i++) {
            try {
              part[i]!.resolve(walletFromReply(replies[i]!));
            } catch (e) {
              part[i]!.reject(e);
            }
          }
        },
        (e: unknown) => {
          for (const r of part) r.reject(e);
        },
      );
    }
  }

  private script(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFn>)[name];
    // A script defined without a number of keys takes it as its first argument.
    if (SCRIPTS[name].numberOfKeys === undefined) return fn.call(this.redis, String(keys.length), ...keys, ...args);
    return fn.call(this.redis, ...keys, ...args);
  }

  /** Money scripts' keys after their own: balances, accounts, entries. */
  private ledgerKeys(): string[] {
    return [this.k.balances(), this.k.accounts(), this.k.entries()];
  }

  /** One payout move by the ledger rules: the allowed statuses before it and what money it moves. */
  private movePayout(payoutId: string, to: Payout["status"], now: number, detail: string, failureKind: string, strict: boolean): Promise<unknown> {
    const m = PAYOUT_MOVEMENTS[to];
    return this.script(
      "bgMovePayout",
      [this.k.payout(payoutId), ...this.ledgerKeys()],
      [
        payoutId,
        to,
        detail,
        assertTime(now, "now"),
        SYSTEM_PAYOUTS_IN_FLIGHT,
        railAccount(""),
        failureKind,
        payoutStatusesBefore(to).join(" "),
        m.to,
        m.to === "none" ? "" : m.kind,
        strict ? "strict" : "",
      ],
    );
  }

  private async setNew(key: string, value: string, what: string): Promise<void> {
    const ok = await this.redis.set(key, value, "NX");
    if (ok !== "OK") throw new Error(`duplicate ${what}`);
  }

  private async getRecord<T>(key: string, from: (f: Fields) => T): Promise<T | null> {
    const s = await this.redis.get(key);
    return s === null ? null : from(JSON.parse(s) as Fields);
  }

  readonly clients: ClientStore & ClientAdminOps = {
    ...this.admin.clients,
    createClient: async (c: ClientRecord) => {
      await this.setNew(this.k.client(c.clientId), JSON.stringify(clientRecord.to(c)), `client ${c.clientId}`);
    },
    findClient: async (clientId: number) => this.getRecord(this.k.client(clientId), clientRecord.from),
  };

  readonly tokens: TokenStore & TokenAdminOps = {
    ...this.admin.tokens,
    createToken: async (t: TokenRecord) => {
      const tokenId = t.tokenId ?? tokenIdOf(t.tokenHash);
      await this.script(
        "bgCreateToken",
        [this.k.token(t.tokenHash), this.k.user(t.userId), this.admin.keys.tokenId(tokenId), this.admin.keys.userTokens(t.userId), this.admin.keys.version()],
        [JSON.stringify(tokenRecord.to(t)), t.tokenHash, tokenId, assertTime(t.createdAt, "createdAt")],
      );
    },
    findToken: async (tokenHash: string) => this.getRecord(this.k.token(tokenHash), tokenRecord.from),
  };

  /** Reads the record, lets `decide` pick a write (or an answer), and applies it by compare-and-set, retrying if it changed. */
  private async idemUpdate<T>(
    scope: string,
    key: string,
    decide: (rec: IdempotencyRecord | null) => { answer: T; write?: { put: IdempotencyRecord; ttlMs: number } | "delete" },
  ): Promise<T> {
    const k = this.k.idem(scope, key);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const h = await this.redis.hgetall(k);
      const rec = h.state === undefined ? null : idempotencyRecord.from(h);
      const { answer, write } = decide(rec);
      if (!write) return answer;
      const expected = [h.state ?? "", h.owner ?? "", h.lockedUntil ?? ""];
      const op =
        write === "delete"
          ? ["del", "0", "0"]
          : ["put", String(write.put.expiresAt), String(Math.max(1, Math.ceil(write.ttlMs))), ...fieldList(idempotencyRecord.to(write.put))];
      if (Number(await this.script("bgIdemCas", [k, this.k.idemExpiry()], [...expected, ...op])) === 1) return answer;
    }
    throw new Error(`idempotency record ${scope} ${key} kept changing; gave up after ${CAS_ATTEMPTS} attempts`);
  }

  readonly idempotency: IdempotencyStore = {
    claim: async (req: ClaimRequest): Promise<ClaimResult> => {
      const now = Number(assertTime(req.now, "now"));
      const leaseMs = assertDuration(req.leaseMs, "leaseMs");
      const retentionMs = assertDuration(req.retentionMs, "retentionMs");
      return this.idemUpdate<ClaimResult>(req.scope, req.key, (rec) => {
        const d = decideClaim(rec, now);
        if (d.kind !== "take") return { answer: d };
        return { answer: { kind: "claimed" }, write: { put: claimedRecord(req, now, leaseMs, retentionMs), ttlMs: retentionMs } };
      });
    },
    renew: async (claim: ClaimRef, now: number, leaseMs: number): Promise<boolean> => {
      const t = Number(assertTime(now, "now"));
      const ms = assertDuration(leaseMs, "leaseMs");
      return this.idemUpdate(claim.scope, claim.key, (rec) =>
        rec && holdsClaim(rec, claim) ? { answer: true, write: { put: { ...rec, lockedUntil: t + ms }, ttlMs: rec.expiresAt - t } } : { answer: false },
      );
    },
    complete: async (claim: ClaimRef, response: StoredResponse, now: number, retentionMs: number): Promise<boolean> => {
      const t = Number(assertTime(now, "now"));
      const ms = assertDuration(retentionMs, "retentionMs");
      return this.idemUpdate(claim.scope, claim.key, (rec) =>
        rec && holdsClaim(rec, claim)
          ? { answer: true, write: { put: { ...rec, state: "completed", response, expiresAt: t + ms }, ttlMs: ms } }
          : { answer: false },
      );
    },
    release: async (claim: ClaimRef): Promise<boolean> =>
      this.idemUpdate(claim.scope, claim.key, (rec) => (holdsClaim(rec, claim) ? { answer: true, write: "delete" } : { answer: false })),
    /**
     * Records also vanish by themselves (PEXPIRE at retention, on Redis' clock); this removes
     * those expired on the caller's clock `now` and trims the expiry index. Returns how many
     * records it deleted (0 when Redis already expired them).
     */
    purgeExpired: async (now: number) => {
      const nowS = assertTime(now, "now");
      let purged = 0;
      for (let round = 0; round < 1000; round++) {
        const members = await this.redis.zrangebyscore(this.k.idemExpiry(), "-inf", nowS, "LIMIT", 0, PURGE_BATCH);
        if (members.length === 0) break;
        const p = this.redis.pipeline();
        for (const m of members) (p as unknown as Record<string, (...a: string[]) => unknown>).bgIdemPurgeOne(m, this.k.idemExpiry(), nowS);
        for (const v of results(await p.exec())) purged += Number(v);
        if (members.length < PURGE_BATCH) break;
      }
      return purged;
    },
  };

  readonly meta: MetaStore = {
    claimMeta: async (key: string, value: string) => (await this.redis.hsetnx(this.k.meta(), key, value)) === 1,
    getMeta: async (key: string) => this.redis.hget(this.k.meta(), key),
    setMeta: async (key: string, value: string) => {
      await this.redis.hset(this.k.meta(), key, value);
    },
  };

  readonly ledger: LedgerStore & WalletAdminOps = {
    ...this.admin.wallets,
    createUser: async (u: User) => {
      await this.setNew(this.k.user(u.userId), JSON.stringify(userRecord.to(u)), `user ${u.userId}`);
    },
    getUser: async (userId: string): Promise<User | null> => this.getRecord(this.k.user(userId), userRecord.from),

    createWallet: async (w: Omit<Wallet, "balance">, funding: number): Promise<Wallet> => {
      if (!Number.isSafeInteger(funding) || funding < 0) throw new Error(`funding must be a non-negative safe integer, got ${funding}`);
      await this.script(
        "bgCreateWallet",
        [this.k.wallet(w.walletId), this.k.user(w.userId), this.k.userWallets(w.userId), ...this.ledgerKeys()],
        [w.walletId, w.userId, w.currency, String(funding), assertTime(w.createdAt, "createdAt"), SYSTEM_FUNDING],
      );
      return { walletId: w.walletId, userId: w.userId, currency: w.currency, balance: funding, status: "active", createdAt: w.createdAt };
    },
    // The wallet reads asked for in one tick (a batch's lookups start in one) go as one script
    // (sendWalletReads): each is answered as of that script's run, after the read was asked for.
    getWallet: (walletId: string): Promise<Wallet | null> =>
      new Promise<Wallet | null>((resolve, reject) => {
        if (this.walletReads === null) {
          this.walletReads = [];
          queueMicrotask(() => this.sendWalletReads());
        }
        this.walletReads.push({ walletId, resolve, reject });
      }),
    listWallets: async (userId: string): Promise<Wallet[]> => {
      const ids = await this.redis.zrange(this.k.userWallets(userId), "0", "-1");
      if (ids.length === 0) return [];
      const p = this.redis.pipeline();
      for (const id of ids) p.hgetall(this.k.wallet(id));
      p.hmget(this.k.balances(), ...ids);
      p.hmget(this.k.walletStatus(), ...ids);
      const res = results(await p.exec());
      const balances = res[ids.length] as (string | null)[];
      const statuses = res[ids.length + 1] as (string | null)[];
      return ids.map((_, i) => walletOf(res[i] as Record<string, string>, balances[i], statuses[i]));
    },

    transfer: async (req: TransferRequest): Promise<TransferOutcome> => {
      // The script validates the amount (a positive integer below 2^53) where SQL would reject it.
      const amount = String(req.amount);
      const now = assertTime(req.now, "now");
      const payment = newPayment(req);
      const r = await this.script(
        "bgTransfer",
        [this.k.wallet(req.fromWalletId), this.k.wallet(req.toWalletId), this.k.payment(req.paymentId), ...this.ledgerKeys(), this.k.walletStatus()],
        [req.fromWalletId, req.toWalletId, amount, req.currency, req.paymentId, now, WALLET_STATUSES_THAT_MOVE.join(" "), ...fieldList(paymentRecord.to(payment))],
      );
      if (r === "ok") return { ok: true, payment };
      if (Array.isArray(r) && r[0] === "exists") return { ok: true, payment: paymentRecord.from(pairsToHash(r, 1)) };
      if (r === "not_found" || r === "insufficient_funds" || r === "currency_mismatch" || r === "wallet_frozen") return { ok: false, reason: r };
      throw new Error(`unexpected transfer reply ${String(r)}`);
    },
    getPayment: async (paymentId: string): Promise<Payment | null> => {
      const h = await this.redis.hgetall(this.k.payment(paymentId));
      const f = fieldsOrNull(h, "paymentId");
      return f && paymentRecord.from(f);
    },
    reversePayment: async (paymentId: string, now: number): Promise<ReverseOutcome> => {
      const r = await this.script(
        "bgReversePayment",
        [this.k.payment(paymentId), ...this.ledgerKeys(), this.k.walletStatus()],
        [paymentId, assertTime(now, "now"), paymentStatusesBefore("reversed").join(" "), WALLET_STATUSES_THAT_MOVE.join(" ")],
      );
      if (Array.isArray(r) && r[0] === "ok") return { ok: true, payment: paymentRecord.from(pairsToHash(r, 1)) };
      if (r === "not_found" || r === "payment_not_reversible" || r === "insufficient_funds" || r === "wallet_frozen") return { ok: false, reason: r };
      throw new Error(`unexpected reverse reply ${String(r)}`);
    },

    beginPayout: async (req: PayoutRequest): Promise<BeginPayoutOutcome> => {
      const amount = String(req.amount);
      const now = assertTime(req.now, "now");
      const payout = newPayout(req);
      const r = await this.script(
        "bgBeginPayout",
        [this.k.wallet(req.walletId), this.k.payout(req.payoutId), ...this.ledgerKeys(), this.k.walletStatus()],
        [req.walletId, amount, req.currency, req.payoutId, now, SYSTEM_PAYOUTS_IN_FLIGHT, WALLET_STATUSES_THAT_MOVE.join(" "), ...fieldList(payoutRecord.to(payout))],
      );
      if (r === "ok") return { ok: true, payout };
      if (Array.isArray(r) && r[0] === "exists") return { ok: true, payout: payoutRecord.from(pairsToHash(r, 1)) };
      if (r === "not_found" || r === "insufficient_funds" || r === "currency_mismatch" || r === "wallet_frozen") return { ok: false, reason: r };
      throw new Error(`unexpected payout reply ${String(r)}`);
    },
    settlePayout: async (payoutId: string, s: PayoutSettlement, now: number): Promise<Payout | null> => {
      if (s.status !== "completed" && s.status !== "pending" && s.status !== "failed") throw new Error(`invalid settlement status ${String((s as { status: unknown }).status)}`);
      const r = await this.movePayout(payoutId, s.status, now, s.status === "failed" ? s.failureCode : s.providerReference, s.status === "failed" ? s.failureKind : "", false);
      if (r === "not_found") return null;
      if (Array.isArray(r) && r[0] === "ok") return payoutRecord.from(pairsToHash(r, 1));
      throw new Error(`unexpected settle reply ${String(r)}`);
    },
    cancelPayout: async (payoutId: string, now: number): Promise<CancelPayoutOutcome> => {
      const r = await this.movePayout(payoutId, "cancelled", now, "", "", true);
      if (Array.isArray(r) && r[0] === "ok") return { ok: true, payout: payoutRecord.from(pairsToHash(r, 1)) };
      if (r === "not_found") return { ok: false, reason: r };
      if (r === "not_allowed") return { ok: false, reason: "payout_not_cancellable" };
      throw new Error(`unexpected cancel reply ${String(r)}`);
    },
    getPayout: async (payoutId: string): Promise<Payout | null> => {
      const h = await this.redis.hgetall(this.k.payout(payoutId));
      const f = fieldsOrNull(h, "payoutId");
      return f && payoutRecord.from(f);
    },

    /**
     * One atomic snapshot (MULTI: balances, running sums, journal length), then the journal up to
     * that length (append-only, so those entries cannot change). A wallet is mismatched when its
     * balance differs from the sum of its journal entries, or its running sum does.
     */
    audit: async (): Promise<LedgerAudit> => {
      const [balances, running, length] = results(
        await this.redis.multi().hgetall(this.k.balances()).hgetall(this.k.accounts()).llen(this.k.entries()).exec(),
      ) as [Record<string, string>, Record<string, string>, number];
      const journal = new Map<string, number>();
      let entrySum = 0;
      for (let start = 0; start < length; start += AUDIT_CHUNK) {
        const chunk = await this.redis.lrange(this.k.entries(), start, Math.min(start + AUDIT_CHUNK, length) - 1);
        for (const e of chunk) {
          const [account, amountText] = JSON.parse(e) as string[];
          const amount = int(amountText, "ledger entry amount");
          entrySum += amount;
          journal.set(account, (journal.get(account) ?? 0) + amount);
        }
      }
      const systemAccounts: Record<string, number> = {};
      for (const [account, s] of journal) if (account.startsWith(SYSTEM_ACCOUNT_PREFIX)) systemAccounts[account] = s;
      let walletBalanceSum = 0;
      const mismatchedWallets: string[] = [];
      for (const [walletId, b] of Object.entries(balances)) {
        const balance = int(b, `balance of ${walletId}`);
        walletBalanceSum += balance;
        const fromJournal = journal.get(walletId) ?? 0;
        const fromRunning = running[walletId] === undefined ? 0 : int(running[walletId], `running sum of ${walletId}`);
        if (balance !== fromJournal || fromRunning !== fromJournal) mismatchedWallets.push(walletId);
      }
      return { walletBalanceSum, systemAccounts, mismatchedWallets, entrySum };
    },
  };

  /** Redis has no read transactions to share: fn just runs. */
  readSnapshot<T>(fn: () => T): T {
    return fn();
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (e) {
      throw isRedisUnavailable(e) ? new StoreUnavailableError(`Redis unavailable (ping): ${(e as Error).message}`, { cause: e }) : e;
    }
  }

  /** Quits the client given to the constructor (the store owns it); never throws. */
  async close(): Promise<void> {
    if (this.redis.status === "end") return;
    if (this.redis.status !== "ready") {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
