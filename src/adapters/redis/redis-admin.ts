/**
 * @module
 * The Redis store's admin operations (src/ports/credentials-admin.ts, wallet-admin.ts, audit.ts),
 * behaving like the SQL store's (sql-admin.ts) under the same contract suite. Keys, under the
 * store's `{prefix}:v1:` (see the layout table in redis-store.ts):
 *
 * | key                              | type   | content                                                |
 * |----------------------------------|--------|--------------------------------------------------------|
 * | `client_seq`                     | string | counter behind createNextClient (id = 100000 + counter) |
 * | `token_id:<tokenId>`             | string | the token's hash (set with the token, by bgCreateToken) |
 * | `user_tokens:<userId>`           | zset   | tokenId scored by createdAt                            |
 * | `wallet_status`                  | hash   | walletId → status, for wallets that are not active     |
 * | `funding:<fundingId>`            | hash   | the funding's fields                                   |
 * | `audit`                          | list   | audit records as JSON, oldest first                    |
 * | `audit_index`                    | hash   | auditId → its 1-based position in `audit`              |
 * | `credentials_version`            | string | bumped (INCR) with every token created, revoked or re-expired, and every disable or rotation |
 * | `credentials_epoch`              | string | random, set once: the version never repeats after a wipe |
 *
 * Client and token records are JSON strings; they change by compare-and-set scripts (the record
 * is rewritten only if it is still the one read, and the credentials version is bumped in the
 * same script), so no number inside them ever goes through Lua. Funding is one script that checks
 * the funding id, the wallet's currency and status, and credits, like every money script.
 *
 * A wallet's entries are read from the shared journal (`entries`) backwards, keeping the
 * wallet's; an entry's id is its position in the journal (`ent_<n>`). A wallet with few entries
 * in a long journal costs a long scan: the listing is an operator's tool, not a hot path.
 */
import type { Redis } from "ioredis";
import type { TokenStore } from "../../ports/credentials.js";
import type { AuditRecord, AuditStore } from "../../ports/audit.js";
import type { ClientRecord, ClientStatus, TokenRecord } from "../../ports/credentials.js";
import { type ClientAdminOps, FIRST_CLIENT_ID, type TokenAdminOps } from "../../ports/credentials-admin.js";
import type { Wallet, WalletStatus } from "../../ports/ledger.js";
import { type Page, type PageRequest, UnknownCursorError } from "../../ports/paging.js";
import type { FundOutcome, FundRequest, Funding, LedgerEntry, WalletAdminOps } from "../../ports/wallet-admin.js";
import { WALLET_STATUSES_THAT_MOVE } from "../../core/ledger-rules.js";
import { clientRecord, type Fields, tokenRecord } from "../../core/records.js";
import { SYSTEM_FUNDING } from "../ledger-accounts.js";

const CAS_ATTEMPTS = 20;
const SCAN_CHUNK = 1000;

/** KEYS: record, credentials version. ARGV: expected JSON, new JSON. 1 if written (and the version bumped), 0 if it changed. */
const CREDENTIAL_CAS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
`;

/** KEYS: wallet, wallet_status. ARGV: walletId, status. 0 when the wallet does not exist. */
const SET_WALLET_STATUS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == 'active' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
`;

/**
 * KEYS: funding, wallet, wallet_status, balances, accounts, entries
 * ARGV: fundingId, walletId, amount, currency, now, reason, fundingAccount, statuses that move (space-separated)
 * Returns 'ok', a failure reason, or {'exists', ...funding hash} (funded before: nothing moves).
 */
const FUND = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local out = redis.call('HGETALL', KEYS[1])
  table.insert(out, 1, 'exists')
  return out
end
local c = redis.call('HGET', KEYS[2], 'currency')
if not c then return 'not_found' end
if c ~= ARGV[4] then return 'currency_mismatch' end
local status = redis.call('HGET', KEYS[3], ARGV[2]) or 'active'
if not string.find(' ' .. ARGV[8] .. ' ', ' ' .. status .. ' ', 1, true) then return 'wallet_frozen' end
local s = ARGV[3]
if not string.match(s, '^[1-9]%d*$') or #s > 16 then return redis.error_reply('ERR batchgate: invalid amount') end
local b = redis.call('HGET', KEYS[4], ARGV[2])
if not b then return redis.error_reply('ERR batchgate: wallet without balance') end
if tonumber(b) + tonumber(s) > 9007199254740991 then return redis.error_reply('ERR batchgate: balance would exceed 2^53-1') end
redis.call('HINCRBY', KEYS[4], ARGV[2], s)
redis.call('RPUSH', KEYS[6], cjson.encode({ARGV[7], '-' .. s, 'funding', ARGV[1], ARGV[5]}), cjson.encode({ARGV[2], s, 'funding', ARGV[1], ARGV[5]}))
redis.call('HINCRBY', KEYS[5], ARGV[7], '-' .. s)
redis.call('HINCRBY', KEYS[5], ARGV[2], s)
redis.call('HSET', KEYS[1], 'fundingId', ARGV[1], 'walletId', ARGV[2], 'amount', s, 'currency', ARGV[4], 'reason', ARGV[6], 'createdAt', ARGV[5])
return 'ok'
`;

/** KEYS: audit, audit_index. ARGV: auditId, record JSON. */
const AUDIT_APPEND = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return redis.error_reply('ERR batchgate: duplicate audit id') end
local n = redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], n)
return n
`;

const SCRIPTS = {
  bgAdminCredentialCas: { numberOfKeys: 2, lua: CREDENTIAL_CAS },
  bgAdminSetWalletStatus: { numberOfKeys: 2, lua: SET_WALLET_STATUS },
  bgAdminFund: { numberOfKeys: 6, lua: FUND },
  bgAdminAuditAppend: { numberOfKeys: 2, lua: AUDIT_APPEND },
} as const;

/** Defines the scripts on a client; the store calls it once in its constructor. */
export function defineAdminScripts(redis: Redis) {
  for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
}

export interface RedisAdminDeps {
  /** Read at each call: the store builds these before its constructor has the client. */
  redis: () => Redis;
  /** `{prefix}:v1:part:part...`, the store's key builder. */
  key: (...parts: string[]) => string;
  getWallet: (walletId: string) => Promise<Wallet | null>;
}

function pairs(flat: unknown[], from: number): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = from; i + 1 < flat.length; i += 2) h[String(flat[i])] = String(flat[i + 1]);
  return h;
}

function fundingOf(h: Record<string, string>): Funding {
  return { fundingId: h.fundingId, walletId: h.walletId, amount: Number(h.amount), currency: h.currency, reason: h.reason, createdAt: Number(h.createdAt) };
}

export function redisAdminOps({ redis, key, getWallet }: RedisAdminDeps) {
  const script = (name: keyof typeof SCRIPTS, keys: string[], args: string[]) =>
    (redis() as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[name].call(redis(), ...keys, ...args);
  const k = {
    client: (id: number) => key("client", String(id)),
    clientSeq: () => key("client_seq"),
    token: (hash: string) => key("token", hash),
    tokenId: (id: string) => key("token_id", id),
    userTokens: (userId: string) => key("user_tokens", userId),
    wallet: (id: string) => key("wallet", id),
    walletStatus: () => key("wallet_status"),
    funding: (id: string) => key("funding", id),
    balances: () => key("balances"),
    accounts: () => key("accounts"),
    entries: () => key("entries"),
    audit: () => key("audit"),
    auditIndex: () => key("audit_index"),
    version: () => key("credentials_version"),
    epoch: () => key("credentials_epoch"),
  };

  /** Rewrites a JSON record by compare-and-set (bumping the credentials version); null when absent, the record unchanged when `change` says so. */
  async function casRecord<T>(recordKey: string, from: (f: Fields) => T, change: (rec: T) => Fields | null): Promise<{ before: T; after: T | null } | null> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const text = await redis().get(recordKey);
      if (text === null) return null;
      const before = from(JSON.parse(text) as Fields);
      const next = change(before);
      if (next === null) return { before, after: null };
      const nextText = JSON.stringify(next);
      if (Number(await script("bgAdminCredentialCas", [recordKey, k.version()], [text, nextText])) === 1) return { before, after: from(next) };
    }
    throw new Error(`record ${recordKey} kept changing; gave up after ${CAS_ATTEMPTS} attempts`);
  }

  const getToken = async (hash: string): Promise<TokenRecord | null> => {
    const s = await redis().get(k.token(hash));
    return s === null ? null : tokenRecord.from(JSON.parse(s) as Fields);
  };

  const clients: ClientAdminOps = {
    createNextClient: async (c: Omit<ClientRecord, "clientId">) => {
      // A client created with an explicit id may hold the next number: skip it.
      for (let attempt = 0; attempt < 1000; attempt++) {
        const clientId = FIRST_CLIENT_ID - 1 + (await redis().incr(k.clientSeq()));
        const rec: ClientRecord = { ...c, clientId, status: c.status ?? "active" };
        if ((await redis().set(k.client(clientId), JSON.stringify(clientRecord.to(rec)), "NX")) === "OK") return rec;
      }
      throw new Error("no free client id after 1000 attempts");
    },
    setClientStatus: async (clientId: number, status: ClientStatus) => {
      const r = await casRecord(k.client(clientId), clientRecord.from, (c) => (c.status === status ? null : clientRecord.to({ ...c, status })));
      return r && (r.after ?? r.before);
    },
    rotateClientSecret: async (clientId: number, secretHash: string) => {
      const r = await casRecord(k.client(clientId), clientRecord.from, (c) => clientRecord.to({ ...c, secretHash }));
      return r && (r.after ?? r.before);
    },
  };

  const tokens: TokenAdminOps & Pick<TokenStore, "revokeToken" | "expireToken" | "credentialsVersion"> = {
    expireToken: async (tokenHash: string, at: number) => {
      const r = await casRecord(k.token(tokenHash), tokenRecord.from, (t) => tokenRecord.to({ ...t, expiresAt: at }));
      return r !== null && r.after !== null;
    },
    credentialsVersion: async () => {
      let [epoch, version] = await redis().mget(k.epoch(), k.version());
      if (epoch === null) {
        // The first reader fixes the epoch; every reader then sees the same one.
        await redis().set(k.epoch(), Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join(""), "NX");
        [epoch, version] = await redis().mget(k.epoch(), k.version());
      }
      return `${epoch}:${version ?? "0"}`;
    },
    revokeToken: async (tokenHash: string, now: number) => {
      const r = await casRecord(k.token(tokenHash), tokenRecord.from, (t) => (t.revoked ? null : tokenRecord.to({ ...t, revoked: true, revokedAt: now })));
      return r !== null && r.after !== null;
    },
    findTokenById: async (tokenId: string) => {
      const hash = await redis().get(k.tokenId(tokenId));
      return hash === null ? null : getToken(hash);
    },
    listUserTokens: async (userId: string, page: PageRequest): Promise<Page<TokenRecord>> => {
      let start = 0;
      if (page.startingAfter !== undefined) {
        const rank = await redis().zrevrank(k.userTokens(userId), page.startingAfter);
        if (rank === null) throw new UnknownCursorError(page.startingAfter);
        start = rank + 1;
      }
      const ids = await redis().zrevrange(k.userTokens(userId), start, start + page.limit);
      const hashes = ids.length ? await redis().mget(...ids.map(k.tokenId)) : [];
      const records = (await Promise.all(hashes.map((h) => (h === null ? null : getToken(h))))).filter((t): t is TokenRecord => t !== null);
      return { data: records.slice(0, page.limit), hasMore: ids.length > page.limit };
    },
  };

  const wallets: WalletAdminOps = {
    fundWallet: async (req: FundRequest): Promise<FundOutcome> => {
      if (!Number.isSafeInteger(req.amount) || req.amount <= 0) throw new RangeError(`amount must be a positive whole number of minor units, got ${req.amount}`);
      const r = await script(
        "bgAdminFund",
        [k.funding(req.fundingId), k.wallet(req.walletId), k.walletStatus(), k.balances(), k.accounts(), k.entries()],
        [req.fundingId, req.walletId, String(req.amount), req.currency, String(req.createdAt), req.reason, SYSTEM_FUNDING, WALLET_STATUSES_THAT_MOVE.join(" ")],
      );
      if (r === "not_found" || r === "currency_mismatch" || r === "wallet_frozen") return { ok: false, reason: r };
      const replayed = Array.isArray(r) && r[0] === "exists";
      if (r !== "ok" && !replayed) throw new Error(`unexpected fund reply ${String(r)}`);
      const funding = replayed ? fundingOf(pairs(r as unknown[], 1)) : { ...req };
      const wallet = await getWallet(funding.walletId);
      if (!wallet) throw new Error(`funding ${funding.fundingId} names a missing wallet`);
      return { ok: true, funding, wallet, replayed };
    },
    setWalletStatus: async (walletId: string, status: WalletStatus) => {
      if (Number(await script("bgAdminSetWalletStatus", [k.wallet(walletId), k.walletStatus()], [walletId, status])) === 0) return null;
      return getWallet(walletId);
    },
    listWalletEntries: async (walletId: string, page: PageRequest): Promise<Page<LedgerEntry>> => {
      let end = (await redis().llen(k.entries())) - 1;
      if (page.startingAfter !== undefined) {
        const m = /^ent_([1-9]\d{0,15})$/.exec(page.startingAfter);
        const at = m ? Number(m[1]) - 1 : -1;
        const e = at >= 0 ? await redis().lindex(k.entries(), at) : null;
        if (e === null || (JSON.parse(e) as string[])[0] !== walletId) throw new UnknownCursorError(page.startingAfter);
        end = at - 1;
      }
      const found: LedgerEntry[] = [];
      while (end >= 0 && found.length <= page.limit) {
        const start = Math.max(0, end - SCAN_CHUNK + 1);
        const chunk = await redis().lrange(k.entries(), start, end);
        for (let i = chunk.length - 1; i >= 0 && found.length <= page.limit; i--) {
          const [account, amount, kind, ref, createdAt] = JSON.parse(chunk[i]) as string[];
          if (account === walletId) found.push({ entryId: `ent_${start + i + 1}`, account, amount: Number(amount), kind, refId: ref, createdAt: Number(createdAt) });
        }
        end = start - 1;
      }
      return { data: found.slice(0, page.limit), hasMore: found.length > page.limit };
    },
  };

  const audit: AuditStore = {
    append: async (r: AuditRecord) => {
      await script("bgAdminAuditAppend", [k.audit(), k.auditIndex()], [r.auditId, JSON.stringify(r)]);
    },
    list: async (page: PageRequest): Promise<Page<AuditRecord>> => {
      let end = (await redis().llen(k.audit())) - 1;
      if (page.startingAfter !== undefined) {
        const pos = await redis().hget(k.auditIndex(), page.startingAfter);
        if (pos === null) throw new UnknownCursorError(page.startingAfter);
        end = Number(pos) - 2;
      }
      if (end < 0) return { data: [], hasMore: false };
      const start = Math.max(0, end - page.limit);
      const rows = (await redis().lrange(k.audit(), start, end)).reverse().map((s) => JSON.parse(s) as AuditRecord);
      return { data: rows.slice(0, page.limit), hasMore: rows.length > page.limit };
    },
  };

  return { clients, tokens, wallets, audit, keys: k };
}
