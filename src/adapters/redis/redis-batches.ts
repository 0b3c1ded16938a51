/**
 * @module
 * The asynchronous batches' store on Redis, behaving like src/adapters/sqlite/sql-batches.ts under
 * the same contract suite. Each state change is one Lua script (atomic); the rules come from
 * src/core/async-batches.ts through the caller (allowed `from` statuses, the terminal status).
 *
 * Keys (under the store's `{prefix}:v1:`, see redis-store.ts):
 *
 * | key                                   | type   | content                                          |
 * |---------------------------------------|--------|--------------------------------------------------|
 * | `abatch:<batchId>`                    | hash   | the batch's fields (absent = null)               |
 * | `abatch_idem:<clientId>:<len>:<key>`  | string | batch idempotency key → batchId                  |
 * | `abatches:<clientId>`                 | zset   | the client's batch ids (score 0: ordered by id)  |
 * | `abatches_in:<status>`                | zset   | batch ids in that status (building: by expiresAt)|
 * | `abitem:<batchId>`                    | hash   | index → the item's request as JSON (immutable)   |
 * | `abstate:<batchId>`                   | hash   | index → `<status>:<attempt>:<updatedAt>`         |
 * | `abhist:<batchId>`                    | hash   | index → the item's attempts as a JSON array      |
 * | `abpending:<batchId>`                 | zset   | indexes of pending items (score = index)         |
 * | `abkeys:<clientId>`                   | hash   | item idempotency key → `<batchId> <index>`       |
 * | `abctx:<clientId>`                    | hash   | customer transaction id → `<batchId> <index>`    |
 * | `abowed:<batchId>`                    | set    | indexes whose outcome's event may be unemitted   |
 * | `abowing`                             | set    | batch ids owing events (items or the digest)     |
 *
 * The batch hash's `digestOwedRun` names the run whose batch.completed digest may be unemitted: set
 * by the script that records the run's last outcome, as `abowed` is by the one recording an outcome.
 */
import type { Redis } from "ioredis";
import {
  type AddItemsOutcome,
  BATCH_STATUSES,
  type BatchItemRecord,
  type BatchRecord,
  type BatchStatus,
  type BatchStore,
  type CreateBatchOutcome,
  type ItemAttempt,
  type ItemOutcome,
  type ItemsRefused,
  type ItemStatus,
  type ListBatchesQuery,
  type ListItemsQuery,
  type NewBatchItem,
  type OwedEvents,
  type RecordOutcomesResult,
} from "../../ports/batches.js";
import { StoreUnavailableError } from "../../ports/errors.js";
import { isRedisUnavailable } from "./client.js";

const STATUS_KEYS = BATCH_STATUSES.length;

// KEYS: batch, idem, list, building set, items, state, hist, pending, client keys, client ctx ids.
// ARGV: hasIdem, batchId, expiresAt, now, max, n, nFields, (field, value)*nFields, (key, ctx, json)*n
const CREATE = `
if ARGV[1] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {0, existing} end
end
local n = tonumber(ARGV[6])
local nf = tonumber(ARGV[7])
local base = 7 + 2 * nf
if n > tonumber(ARGV[5]) then return {2, 'too_many'} end
for i = 1, n do
  local key = ARGV[base + 3 * i - 2]
  if key ~= '' then
    local owner = redis.call('HGET', KEYS[9], key)
    if owner then return {2, 'key_in_use', key, owner, tostring(i - 1)} end
  end
end
local seen = {}
for i = 1, n do
  local ctx = ARGV[base + 3 * i - 1]
  if ctx ~= '' then
    if seen[ctx] then return {2, 'ctx_in_use', ctx, ARGV[2] .. ' ' .. seen[ctx], tostring(i - 1)} end
    seen[ctx] = tostring(i - 1)
    local owner = redis.call('HGET', KEYS[10], ctx)
    if owner then return {2, 'ctx_in_use', ctx, owner, tostring(i - 1)} end
  end
end
if ARGV[1] == '1' then redis.call('SET', KEYS[2], ARGV[2]) end
for i = 8, base, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 1, n do
  local idx = tostring(i - 1)
  local key = ARGV[base + 3 * i - 2]
  local ctx = ARGV[base + 3 * i - 1]
  redis.call('HSET', KEYS[5], idx, ARGV[base + 3 * i])
  redis.call('HSET', KEYS[6], idx, 'pending:1:' .. ARGV[4])
  redis.call('HSET', KEYS[7], idx, '[]')
  redis.call('ZADD', KEYS[8], i - 1, idx)
  if key ~= '' then redis.call('HSET', KEYS[9], key, ARGV[2] .. ' ' .. idx) end
  if ctx ~= '' then redis.call('HSET', KEYS[10], ctx, ARGV[2] .. ' ' .. idx) end
end
redis.call('HSET', KEYS[1], 'totalCount', n)
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]), ARGV[2])
return {1, ARGV[2]}
`;

// KEYS: batch, items, state, hist, pending, client keys, client ctx ids. ARGV: batchId, now, max, n, (key, ctx, json)*n
const ADD_ITEMS = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
local now = tonumber(ARGV[2])
if status ~= 'building' or tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) <= now then return {'not_building'} end
local total = tonumber(redis.call('HGET', KEYS[1], 'totalCount'))
local n = tonumber(ARGV[4])
if total + n > tonumber(ARGV[3]) then return {'too_many'} end
for i = 1, n do
  local key = ARGV[2 + 3 * i]
  if key ~= '' then
    local owner = redis.call('HGET', KEYS[6], key)
    if owner then return {'key_in_use', key, owner, tostring(total + i - 1)} end
  end
end
local seen = {}
for i = 1, n do
  local ctx = ARGV[3 + 3 * i]
  if ctx ~= '' then
    if seen[ctx] then return {'ctx_in_use', ctx, ARGV[1] .. ' ' .. seen[ctx], tostring(total + i - 1)} end
    seen[ctx] = tostring(total + i - 1)
    local owner = redis.call('HGET', KEYS[7], ctx)
    if owner then return {'ctx_in_use', ctx, owner, tostring(total + i - 1)} end
  end
end
for i = 1, n do
  local idx = tostring(total + i - 1)
  local key = ARGV[2 + 3 * i]
  local ctx = ARGV[3 + 3 * i]
  redis.call('HSET', KEYS[2], idx, ARGV[4 + 3 * i])
  redis.call('HSET', KEYS[3], idx, 'pending:1:' .. ARGV[2])
  redis.call('HSET', KEYS[4], idx, '[]')
  redis.call('ZADD', KEYS[5], total + i - 1, idx)
  if key ~= '' then redis.call('HSET', KEYS[6], key, ARGV[1] .. ' ' .. idx) end
  if ctx ~= '' then redis.call('HSET', KEYS[7], ctx, ARGV[1] .. ' ' .. idx) end
end
redis.call('HINCRBY', KEYS[1], 'totalCount', n)
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
return {'ok'}
`;

const STATUS_INDEX = `
local STATUSES = {${BATCH_STATUSES.map((s) => `'${s}'`).join(", ")}}
local function statusKey(s)
  for i, name in ipairs(STATUSES) do if name == s then return KEYS[3 + i] end end
  return nil
end
local function allowed(s, list)
  for w in string.gmatch(list, '[^,]+') do if w == s then return true end end
  return false
end
local function setStatus(id, from, to, now)
  redis.call('HSET', KEYS[1], 'status', to, 'updatedAt', now)
  redis.call('ZREM', statusKey(from), id)
  local score = 0
  if to == 'building' then score = tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) end
  redis.call('ZADD', statusKey(to), score, id)
end
`;

// KEYS: batch, state, pending, status sets (7). ARGV: batchId, now, from (comma list), to
const MOVE = `${STATUS_INDEX}
local st = redis.call('HGET', KEYS[1], 'status')
if not st or not allowed(st, ARGV[3]) then return nil end
local now = ARGV[2]
local to = ARGV[4]
if to == 'processing' and st == 'building' and tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) <= tonumber(now) then return nil end
if to == 'cancelled' then
  local idxs = redis.call('ZRANGE', KEYS[3], 0, -1)
  for _, idx in ipairs(idxs) do
    local s = redis.call('HGET', KEYS[2], idx)
    local att = string.match(s, '^%a+:(%d+):')
    redis.call('HSET', KEYS[2], idx, 'cancelled:' .. att .. ':' .. now)
  end
  redis.call('DEL', KEYS[3])
  redis.call('HINCRBY', KEYS[1], 'cancelledCount', #idxs)
end
setStatus(ARGV[1], st, to, now)
if to == 'processing' and redis.call('HEXISTS', KEYS[1], 'submittedAt') == 0 then redis.call('HSET', KEYS[1], 'submittedAt', now) end
if to ~= 'processing' and to ~= 'building' then redis.call('HSET', KEYS[1], 'completedAt', now) end
return redis.call('HGETALL', KEYS[1])
`;

// KEYS: batch, state, hist, pending, owed, owing. ARGV: now, n, (idx, attempt, status, attemptJson)*n
const RECORD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local now = ARGV[1]
local n = tonumber(ARGV[2])
local recorded = {}
local ok, bad, uncancelled = 0, 0, 0
for i = 0, n - 1 do
  local idx = ARGV[3 + 4 * i]
  local attempt = ARGV[4 + 4 * i]
  local status = ARGV[5 + 4 * i]
  local s = redis.call('HGET', KEYS[2], idx)
  if s then
    local st, att = string.match(s, '^(%a+):(%d+):')
    if att == attempt and (st == 'pending' or st == 'cancelled') then
      redis.call('HSET', KEYS[2], idx, status .. ':' .. att .. ':' .. now)
      local h = redis.call('HGET', KEYS[3], idx)
      if h == '[]' then h = '[' .. ARGV[6 + 4 * i] .. ']' else h = string.sub(h, 1, -2) .. ',' .. ARGV[6 + 4 * i] .. ']' end
      redis.call('HSET', KEYS[3], idx, h)
      redis.call('ZREM', KEYS[4], idx)
      if st == 'cancelled' then uncancelled = uncancelled + 1 end
      if status == 'succeeded' then ok = ok + 1 else bad = bad + 1 end
      redis.call('SADD', KEYS[5], idx)
      recorded[#recorded + 1] = idx
    end
  end
end
if #recorded > 0 then
  redis.call('HINCRBY', KEYS[1], 'succeededCount', ok)
  redis.call('HINCRBY', KEYS[1], 'failedCount', bad)
  if uncancelled > 0 then redis.call('HINCRBY', KEYS[1], 'cancelledCount', 0 - uncancelled) end
  redis.call('HSET', KEYS[1], 'updatedAt', now)
  redis.call('SADD', KEYS[6], redis.call('HGET', KEYS[1], 'batchId'))
end
if redis.call('HGET', KEYS[1], 'status') == 'processing' and redis.call('ZCARD', KEYS[4]) == 0 then
  redis.call('HSET', KEYS[1], 'digestOwedRun', redis.call('HGET', KEYS[1], 'runGeneration'))
  redis.call('SADD', KEYS[6], redis.call('HGET', KEYS[1], 'batchId'))
end
return {recorded, redis.call('HGETALL', KEYS[1])}
`;

// KEYS: batch, state, owed, owing. ARGV: batchId, digestRun ('' for none), (idx, attempt)*
const EMITTED = `
for i = 3, #ARGV, 2 do
  local s = redis.call('HGET', KEYS[2], ARGV[i])
  local att = s and string.match(s, '^%a+:(%d+):')
  if not s or att == ARGV[i + 1] then redis.call('SREM', KEYS[3], ARGV[i]) end
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'digestOwedRun') == ARGV[2] then redis.call('HDEL', KEYS[1], 'digestOwedRun') end
if redis.call('SCARD', KEYS[3]) == 0 and redis.call('HEXISTS', KEYS[1], 'digestOwedRun') == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
return 1
`;

// KEYS: batch, state, pending, status sets (7). ARGV: batchId, now, from, all ('1'|'0'), idx...
const RETRY = `${STATUS_INDEX}
local st = redis.call('HGET', KEYS[1], 'status')
if not st or not allowed(st, ARGV[3]) then return nil end
local now = ARGV[2]
local candidates = {}
if ARGV[4] == '1' then
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do candidates[#candidates + 1] = all[i] end
else
  for i = 5, #ARGV do candidates[#candidates + 1] = ARGV[i] end
end
local retried = {}
for _, idx in ipairs(candidates) do
  local s = redis.call('HGET', KEYS[2], idx)
  if s then
    local cur, att = string.match(s, '^(%a+):(%d+):')
    if cur == 'failed' then
      redis.call('HSET', KEYS[2], idx, 'pending:' .. (tonumber(att) + 1) .. ':' .. now)
      redis.call('ZADD', KEYS[3], tonumber(idx), idx)
      retried[#retried + 1] = idx
    end
  end
end
if #retried > 0 then
  redis.call('HINCRBY', KEYS[1], 'failedCount', 0 - #retried)
  redis.call('HINCRBY', KEYS[1], 'runGeneration', 1)
  redis.call('HDEL', KEYS[1], 'completedAt')
  setStatus(ARGV[1], st, 'processing', now)
end
return {retried, redis.call('HGETALL', KEYS[1])}
`;

const SCRIPTS = {
  bgAbCreate: { numberOfKeys: 10, lua: CREATE },
  bgAbAddItems: { numberOfKeys: 7, lua: ADD_ITEMS },
  bgAbMove: { numberOfKeys: 3 + STATUS_KEYS, lua: MOVE },
  bgAbRecord: { numberOfKeys: 6, lua: RECORD },
  bgAbEmitted: { numberOfKeys: 4, lua: EMITTED },
  bgAbRetry: { numberOfKeys: 3 + STATUS_KEYS, lua: RETRY },
} as const;
type ScriptName = keyof typeof SCRIPTS;

const NUMERIC = new Set(["clientId", "totalCount", "succeededCount", "failedCount", "cancelledCount", "runGeneration", "createdAt", "updatedAt", "submittedAt", "completedAt", "expiresAt"]);

function batchFields(b: BatchRecord): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(b)) if (v !== null) out.push(k, String(v));
  return out;
}

function batchFrom(flat: string[]): BatchRecord {
  const h: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]] = flat[i + 1];
  const num = (k: string) => (h[k] === undefined ? null : Number(h[k]));
  if (!h.batchId) throw new Error("corrupt store: batch without an id");
  for (const k of Object.keys(h)) if (NUMERIC.has(k) && !Number.isFinite(Number(h[k]))) throw new Error(`corrupt store: batch ${h.batchId} ${k}`);
  return {
    batchId: h.batchId,
    clientId: num("clientId")!,
    status: h.status as BatchStatus,
    label: h.label ?? null,
    metadata: h.metadata ?? null,
    idempotencyKey: h.idempotencyKey ?? null,
    customerBatchId: h.customerBatchId ?? null,
    totalCount: num("totalCount")!,
    succeededCount: num("succeededCount")!,
    failedCount: num("failedCount")!,
    cancelledCount: num("cancelledCount")!,
    runGeneration: num("runGeneration")!,
    createdAt: num("createdAt")!,
    updatedAt: num("updatedAt")!,
    submittedAt: num("submittedAt"),
    completedAt: num("completedAt"),
    expiresAt: num("expiresAt")!,
  };
}

type ItemRequest = Omit<NewBatchItem, never>;

export class RedisBatchStore implements BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: (...parts: string[]) => string,
  ) {
    for (const [name, def] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { numberOfKeys: def.numberOfKeys, lua: def.lua });
    // Every method: a Redis that cannot be reached is StoreUnavailableError (503), like the other ports.
    for (const name of Object.getOwnPropertyNames(RedisBatchStore.prototype)) {
      if (name === "constructor") continue;
      const fn = (this as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name];
      (this as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
        try {
          return await fn.apply(this, args);
        } catch (e) {
          if (isRedisUnavailable(e)) throw new StoreUnavailableError(`Redis unavailable (batches.${name}): ${(e as Error).message}`, { cause: e });
          throw e;
        }
      };
    }
  }

  private kBatch = (id: string) => this.key("abatch", id);
  private kList = (clientId: number) => this.key("abatches", String(clientId));
  private kStatus = (s: BatchStatus) => this.key("abatches_in", s);
  private kItems = (id: string) => this.key("abitem", id);
  private kState = (id: string) => this.key("abstate", id);
  private kHist = (id: string) => this.key("abhist", id);
  private kPending = (id: string) => this.key("abpending", id);
  private kKeys = (clientId: number) => this.key("abkeys", String(clientId));
  private kCtx = (clientId: number) => this.key("abctx", String(clientId));
  private kOwed = (id: string) => this.key("abowed", id);
  private kOwing = () => this.key("abowing");
  private kStatuses = () => BATCH_STATUSES.map((s) => this.kStatus(s));

  private run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[name];
    return fn.call(this.redis, ...keys, ...args.map(String));
  }

  async createBatch(b: BatchRecord, items: readonly NewBatchItem[] = [], maxItems = Number.MAX_SAFE_INTEGER): Promise<CreateBatchOutcome | ItemsRefused> {
    const idemKey = b.idempotencyKey === null ? this.key("abatch_idem", "-") : this.key("abatch_idem", String(b.clientId), String(b.idempotencyKey.length), b.idempotencyKey);
    const fields = batchFields(b);
    const args: (string | number)[] = [b.idempotencyKey === null ? "0" : "1", b.batchId, b.expiresAt, b.createdAt, maxItems, items.length, fields.length / 2, ...fields];
    for (const it of items) args.push(it.idempotencyKey ?? "", it.customerTransactionId ?? "", JSON.stringify(it satisfies ItemRequest));
    const keys = [
      this.kBatch(b.batchId),
      idemKey,
      this.kList(b.clientId),
      this.kStatus("building"),
      this.kItems(b.batchId),
      this.kState(b.batchId),
      this.kHist(b.batchId),
      this.kPending(b.batchId),
      this.kKeys(b.clientId),
      this.kCtx(b.clientId),
    ];
    const out = (await this.run("bgAbCreate", keys, args)) as [number, string, ...string[]];
    if (out[0] === 1) return { created: true, batch: (await this.getBatch(b.batchId))! };
    if (out[0] === 0) return { created: false, batch: (await this.getBatch(out[1]))! };
    if (out[1] === "too_many") return { ok: false, reason: "too_many", batch: { ...b, totalCount: 0 } };
    const [ownerBatch, ownerIdx] = out[3].split(" ");
    if (out[1] === "ctx_in_use") return { ok: false, reason: "ctx_in_use", customerTransactionId: out[2], batchId: ownerBatch, index: Number(ownerIdx), newIndex: Number(out[4]) };
    return { ok: false, reason: "key_in_use", key: out[2], batchId: ownerBatch, index: Number(ownerIdx), newIndex: Number(out[4]) };
  }

  async getBatch(batchId: string): Promise<BatchRecord | null> {
    const flat = (await this.redis.call("HGETALL", this.kBatch(batchId))) as string[];
    return flat.length === 0 ? null : batchFrom(flat);
  }

  async listBatches(clientId: number, q: ListBatchesQuery): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const newerFirst = q.endingBefore === undefined;
    const found: BatchRecord[] = [];
    let cursor = newerFirst ? (q.startingAfter === undefined ? "+" : `(${q.startingAfter}`) : `(${q.endingBefore}`;
    const chunk = q.status ? 200 : q.limit + 1;
    for (;;) {
      const ids = newerFirst
        ? await this.redis.zrevrangebylex(this.kList(clientId), cursor, "-", "LIMIT", 0, chunk)
        : await this.redis.zrangebylex(this.kList(clientId), cursor, "+", "LIMIT", 0, chunk);
      for (const id of ids) {
        const b = await this.getBatch(id);
        if (b && (!q.status || b.status === q.status)) found.push(b);
        if (found.length > q.limit) break;
      }
      if (found.length > q.limit || ids.length < chunk) break;
      cursor = `(${ids[ids.length - 1]}`;
    }
    const batches = found.slice(0, q.limit);
    if (!newerFirst) batches.reverse();
    return { batches, hasMore: found.length > q.limit };
  }

  async addItems(batchId: string, items: readonly NewBatchItem[], maxItems: number, now: number): Promise<AddItemsOutcome> {
    const b = await this.getBatch(batchId);
    if (!b) return { ok: false, reason: "not_found" };
    const args: (string | number)[] = [batchId, now, maxItems, items.length];
    for (const it of items) args.push(it.idempotencyKey ?? "", it.customerTransactionId ?? "", JSON.stringify(it satisfies ItemRequest));
    const out = (await this.run(
      "bgAbAddItems",
      [this.kBatch(batchId), this.kItems(batchId), this.kState(batchId), this.kHist(batchId), this.kPending(batchId), this.kKeys(b.clientId), this.kCtx(b.clientId)],
      args,
    )) as string[];
    const after = await this.getBatch(batchId);
    switch (out[0]) {
      case "ok":
        return { ok: true, batch: after! };
      case "not_building":
        return { ok: false, reason: "not_building", batch: after! };
      case "too_many":
        return { ok: false, reason: "too_many", batch: after! };
      case "key_in_use": {
        const [ownerBatch, ownerIdx] = out[2].split(" ");
        return { ok: false, reason: "key_in_use", key: out[1], batchId: ownerBatch, index: Number(ownerIdx), newIndex: Number(out[3]) };
      }
      case "ctx_in_use": {
        const [ownerBatch, ownerIdx] = out[2].split(" ");
        return { ok: false, reason: "ctx_in_use", customerTransactionId: out[1], batchId: ownerBatch, index: Number(ownerIdx), newIndex: Number(out[3]) };
      }
      default:
        return { ok: false, reason: "not_found" };
    }
  }

  async listItems(batchId: string, q: ListItemsQuery): Promise<{ items: BatchItemRecord[]; hasMore: boolean }> {
    let candidates: number[];
    if (q.indexes) {
      candidates = [...q.indexes].sort((a, b) => a - b);
    } else {
      const b = await this.getBatch(batchId);
      if (!b) return { items: [], hasMore: false };
      const from = Math.max(q.fromIndex ?? 0, q.startingAfter === undefined ? 0 : q.startingAfter + 1);
      const to = Math.min(b.totalCount, q.toIndex ?? b.totalCount);
      if (q.status === "pending") {
        const ids = await this.redis.zrangebyscore(this.kPending(batchId), from, `(${to}`, "LIMIT", 0, q.limit + 1);
        candidates = ids.map(Number);
      } else {
        candidates = [];
        for (let i = from; i < to; i++) candidates.push(i);
      }
    }
    const picked: { index: number; state: string }[] = [];
    const chunk = Math.max(200, q.limit + 1);
    for (let at = 0; at < candidates.length && picked.length <= q.limit; at += chunk) {
      const part = candidates.slice(at, at + chunk);
      const states = await this.redis.hmget(this.kState(batchId), ...part.map(String));
      part.forEach((index, i) => {
        const s = states[i];
        if (s === null || picked.length > q.limit) return;
        if (q.status && !s.startsWith(`${q.status}:`)) return;
        picked.push({ index, state: s });
      });
    }
    const page = picked.slice(0, q.limit);
    if (page.length === 0) return { items: [], hasMore: false };
    const fields = page.map((p) => String(p.index));
    const [reqs, hists] = await Promise.all([this.redis.hmget(this.kItems(batchId), ...fields), this.redis.hmget(this.kHist(batchId), ...fields)]);
    const items = page.map((p, i): BatchItemRecord => {
      const req = JSON.parse(reqs[i] ?? "{}") as ItemRequest;
      const [status, attempt, updatedAt] = p.state.split(":");
      return {
        batchId,
        index: p.index,
        call: req.call,
        referenceId: req.referenceId,
        idempotencyKey: req.idempotencyKey,
        parameters: req.parameters,
        customerTransactionId: req.customerTransactionId ?? null,
        metadata: req.metadata,
        userId: req.userId,
        scopes: req.scopes,
        tokenHash: req.tokenHash,
        status: status as ItemStatus,
        attempt: Number(attempt),
        attempts: JSON.parse(hists[i] ?? "[]") as ItemAttempt[],
        updatedAt: Number(updatedAt),
      };
    });
    return { items, hasMore: picked.length > q.limit };
  }

  async moveBatch(batchId: string, from: readonly BatchStatus[], to: BatchStatus, now: number): Promise<BatchRecord | null> {
    const out = (await this.run("bgAbMove", [this.kBatch(batchId), this.kState(batchId), this.kPending(batchId), ...this.kStatuses()], [
      batchId,
      now,
      from.join(","),
      to,
    ])) as string[] | null;
    return out ? batchFrom(out) : null;
  }

  async recordOutcomes(
    batchId: string,
    outcomes: readonly ItemOutcome[],
    now: number,
    terminalOf: (counts: { succeeded: number; failed: number; cancelled: number; total: number }) => BatchStatus,
  ): Promise<RecordOutcomesResult | null> {
    const args: (string | number)[] = [now, outcomes.length];
    for (const o of outcomes) {
      const attempt: ItemAttempt = { attempt: o.attempt, status: o.status, httpStatus: o.httpStatus, response: o.response, finishedAt: now };
      args.push(o.index, o.attempt, o.status, JSON.stringify(attempt));
    }
    const out = (await this.run("bgAbRecord", [this.kBatch(batchId), this.kState(batchId), this.kHist(batchId), this.kPending(batchId), this.kOwed(batchId), this.kOwing()], args)) as
      | [string[], string[]]
      | null;
    if (!out) return null;
    let batch = batchFrom(out[1]);
    const recorded = out[0].map(Number);
    if (batch.status === "processing" && batch.succeededCount + batch.failedCount + batch.cancelledCount >= batch.totalCount) {
      const to = terminalOf({ succeeded: batch.succeededCount, failed: batch.failedCount, cancelled: batch.cancelledCount, total: batch.totalCount });
      // Compare-and-set: only the writer that sees it still processing ends it.
      batch = (await this.moveBatch(batchId, ["processing"], to, now)) ?? (await this.getBatch(batchId))!;
    }
    return { batch, recorded };
  }

  async retryFailed(batchId: string, from: readonly BatchStatus[], indexes: readonly number[] | undefined, now: number): Promise<{ batch: BatchRecord; retried: number[] } | null> {
    const out = (await this.run("bgAbRetry", [this.kBatch(batchId), this.kState(batchId), this.kPending(batchId), ...this.kStatuses()], [
      batchId,
      now,
      from.join(","),
      indexes ? "0" : "1",
      ...(indexes ?? []),
    ])) as [string[], string[]] | null;
    if (!out) return null;
    return { batch: batchFrom(out[1]), retried: out[0].map(Number).sort((a, b) => a - b) };
  }

  async batchesIn(status: BatchStatus, limit: number): Promise<string[]> {
    return this.redis.zrange(this.kStatus(status), "0", String(limit - 1));
  }

  async expireBuilding(now: number, limit: number): Promise<number> {
    const ids = await this.redis.zrangebyscore(this.kStatus("building"), "-inf", String(now), "LIMIT", 0, limit);
    let n = 0;
    for (const id of ids) if (await this.moveBatch(id, ["building"], "expired", now)) n++;
    return n;
  }

  async eventsOwed(batchId: string, limit: number): Promise<OwedEvents> {
    const [owed, run] = await Promise.all([this.redis.smembers(this.kOwed(batchId)), this.redis.hget(this.kBatch(batchId), "digestOwedRun")]);
    const indexes = owed
      .map(Number)
      .sort((a, b) => a - b)
      .slice(0, limit);
    const items = indexes.length === 0 ? [] : (await this.listItems(batchId, { limit: indexes.length, indexes })).items;
    return { items, digestRun: run === null ? null : Number(run) };
  }

  async eventsEmitted(batchId: string, items: readonly { index: number; attempt: number }[], digestRun: number | null): Promise<void> {
    const args: (string | number)[] = [batchId, digestRun === null ? "" : digestRun];
    for (const it of items) args.push(it.index, it.attempt);
    await this.run("bgAbEmitted", [this.kBatch(batchId), this.kState(batchId), this.kOwed(batchId), this.kOwing()], args);
  }

  async batchesOwingEvents(limit: number): Promise<string[]> {
    return (await this.redis.srandmember(this.kOwing(), limit)).sort();
  }
}
