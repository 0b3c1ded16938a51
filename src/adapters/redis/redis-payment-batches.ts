/**
 * @module
 * The payment-batch journal (src/ports/payment-batches.ts) on Redis. Keys, beside the store's
 * others (src/adapters/redis/redis-store.ts), with prefix `bg`:
 *
 * | key                                   | type | content                                                    |
 * |---------------------------------------|------|------------------------------------------------------------|
 * | `{bg}:v1:pbatch:<batchId>`            | hash | `journal` (JSON), `status`, `owner`, `until` (lease, ms)    |
 * | `{bg}:v1:pbatch_running`              | zset | batchId of each running batch scored by its lease's end     |
 * | `{bg}:v1:pitem:<len>:<scope>:<key>`   | hash | an item key's claim: `state` (pending/done), `batchId`, `paymentId` |
 *
 * Every change is one script that first checks the lease owner (or, on creation, that each
 * item key is still as read), so a runner that lost its lease cannot write, and two batches
 * cannot both claim one item key.
 */
import type { Redis } from "ioredis";
import { itemKeyFates, type PaymentBatchJournal } from "../../core/payment-batch.js";
import { StoreUnavailableError } from "../../ports/errors.js";
import type { CreateBatchOutcome, PaymentBatchStore } from "../../ports/payment-batches.js";
import { isRedisUnavailable } from "./client.js";

/**
 * KEYS: batch, running, ...item key claims. ARGV: owner, leaseUntil, userId, journal, batchId,
 * then per claim: expected ('absent' or 'done:<paymentId>'), the item's own paymentId.
 * Returns 'ok', {'exists', journal}, {'in_use', claim number (1-based)} or 'changed'.
 */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', redis.call('HGET', KEYS[1], 'journal')} end
for i = 3, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'state', 'paymentId')
  local expected = ARGV[6 + (i - 3) * 2]
  if h[1] == 'pending' then return {'in_use', tostring(i - 2)} end
  if expected == 'absent' then
    if h[1] then return 'changed' end
  elseif h[1] ~= 'done' or ('done:' .. h[2]) ~= expected then
    return 'changed'
  end
end
for i = 3, #KEYS do
  if ARGV[6 + (i - 3) * 2] == 'absent' then
    redis.call('HSET', KEYS[i], 'state', 'pending', 'batchId', ARGV[5], 'paymentId', ARGV[7 + (i - 3) * 2])
  end
end
redis.call('HSET', KEYS[1], 'journal', ARGV[4], 'status', 'running', 'owner', ARGV[1], 'until', ARGV[2], 'userId', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
return 'ok'
`;

/**
 * KEYS: batch, running, ...keys to bind, ...keys to release. ARGV: owner, leaseUntil, status,
 * journal, number of keys to bind, batchId. Returns 1 if saved, 0 if the lease is not the owner's.
 */
const SAVE = `
local r = redis.call('HMGET', KEYS[1], 'owner', 'status')
if r[1] ~= ARGV[1] or r[2] ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'journal', ARGV[4], 'status', ARGV[3], 'until', ARGV[2])
if ARGV[3] == 'running' then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[6])
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[6])
local nbind = tonumber(ARGV[5])
for i = 3, #KEYS do
  if redis.call('HGET', KEYS[i], 'batchId') == ARGV[6] then
    if i - 2 <= nbind then redis.call('HSET', KEYS[i], 'state', 'done') else redis.call('DEL', KEYS[i]) end
  end
end
return 1
`;

/** KEYS: batch, running. ARGV: owner, leaseUntil, batchId. */
const RENEW = `
local r = redis.call('HMGET', KEYS[1], 'owner', 'status')
if r[1] ~= ARGV[1] or r[2] ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'until', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
`;

/** KEYS: batch, running. ARGV: owner, now, leaseUntil, batchId. Returns the journal when taken over, else false. */
const TAKE_OVER = `
local r = redis.call('HMGET', KEYS[1], 'status', 'until', 'journal')
if r[1] ~= 'running' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return false
end
if tonumber(r[2]) >= tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'until', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return r[3]
`;

const SCRIPTS = {
  bgPbatchCreate: CREATE,
  bgPbatchSave: SAVE,
  bgPbatchRenew: RENEW,
  bgPbatchTakeOver: TAKE_OVER,
} as const;
type ScriptFn = (numberOfKeys: number, ...args: string[]) => Promise<unknown>;

const CREATE_ATTEMPTS = 20;

export function redisPaymentBatches(redis: Redis, key: (...parts: string[]) => string): PaymentBatchStore {
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua });
  const run = (name: keyof typeof SCRIPTS, keys: string[], args: string[]) =>
    (redis as unknown as Record<string, ScriptFn>)[name].call(redis, keys.length, ...keys, ...args);
  const k = {
    batch: (id: string) => key("pbatch", id),
    running: () => key("pbatch_running"),
    item: (scope: string, itemKey: string) => key("pitem", String(scope.length), scope, itemKey),
  };

  const port: PaymentBatchStore = {
    createBatch: async (journal, owner, now, leaseMs): Promise<CreateBatchOutcome> => {
      const keyed = journal.items.filter((i) => i.idempotencyKey !== null);
      for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        const j: PaymentBatchJournal = structuredClone(journal);
        const claims: string[] = [];
        for (const item of keyed) {
          const h = await redis.hmget(k.item(j.keyScope, item.idempotencyKey!), "state", "paymentId");
          const mine = j.items[item.index];
          mine.replayOf = h[0] === "done" ? h[1] : null;
          claims.push(mine.replayOf ? `done:${mine.replayOf}` : "absent", mine.paymentId);
        }
        const r = await run(
          "bgPbatchCreate",
          [k.batch(j.batchId), k.running(), ...keyed.map((i) => k.item(j.keyScope, i.idempotencyKey!))],
          [owner, String(now + leaseMs), j.userId, JSON.stringify(j), j.batchId, ...claims],
        );
        if (r === "ok") return { ok: true, journal: j };
        if (r === "changed") continue;
        if (Array.isArray(r) && r[0] === "exists") return { ok: false, reason: "exists", journal: JSON.parse(String(r[1])) as PaymentBatchJournal };
        if (Array.isArray(r) && r[0] === "in_use") return { ok: false, reason: "key_in_use", index: keyed[Number(r[1]) - 1].index };
        throw new Error(`unexpected payment batch create reply ${String(r)}`);
      }
      throw new Error(`item keys of batch ${journal.batchId} kept changing; gave up after ${CREATE_ATTEMPTS} attempts`);
    },
    getBatch: async (batchId) => {
      const s = await redis.hget(k.batch(batchId), "journal");
      return s === null ? null : (JSON.parse(s) as PaymentBatchJournal);
    },
    saveBatch: async (journal, owner, now, leaseMs) => {
      const fates = journal.status === "running" ? { bind: [], release: [] } : itemKeyFates(journal);
      const keys = [...fates.bind, ...fates.release].map((i) => k.item(journal.keyScope, i.idempotencyKey!));
      const r = await run(
        "bgPbatchSave",
        [k.batch(journal.batchId), k.running(), ...keys],
        [owner, String(now + leaseMs), journal.status, JSON.stringify(journal), String(fates.bind.length), journal.batchId],
      );
      return Number(r) === 1;
    },
    renewBatch: async (batchId, owner, now, leaseMs) =>
      Number(await run("bgPbatchRenew", [k.batch(batchId), k.running()], [owner, String(now + leaseMs), batchId])) === 1,
    takeOverStale: async (owner, now, leaseMs, limit) => {
      const ids = await redis.zrangebyscore(k.running(), "-inf", `(${now}`, "LIMIT", 0, limit);
      const taken: PaymentBatchJournal[] = [];
      for (const id of ids) {
        const r = await run("bgPbatchTakeOver", [k.batch(id), k.running()], [owner, String(now), String(now + leaseMs), id]);
        if (typeof r === "string") taken.push(JSON.parse(r) as PaymentBatchJournal);
      }
      return taken;
    },
    nextLeaseEnd: async () => {
      const first = await redis.zrange(k.running(), "0", "0", "WITHSCORES");
      return first.length === 2 ? Number(first[1]) : null;
    },
  };

  // Redis that cannot be reached is StoreUnavailableError, as for every other port.
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(port)) {
    out[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (e) {
        if (isRedisUnavailable(e)) throw new StoreUnavailableError(`Redis unavailable (paymentBatches.${name}): ${(e as Error).message}`, { cause: e });
        throw e;
      }
    };
  }
  return out as unknown as PaymentBatchStore;
}
