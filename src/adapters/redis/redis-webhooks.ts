/**
 * @module
 * The webhook store (src/ports/webhooks.ts) on Redis, for any number of instances sharing it.
 * Keys (under the store's `{prefix}:v1:`, see redis-store.ts):
 *
 * | key                              | type   | content                                                   |
 * |----------------------------------|--------|-----------------------------------------------------------|
 * | `wh_endpoint:<endpointId>`       | hash   | the endpoint's fields (absent field = null)               |
 * | `wh_endpoints:<clientId>`        | zset   | endpointId scored by createdAt                            |
 * | `wh_msg:<messageId>`             | hash   | the message's fields (absent field = null)                |
 * | `wh_msg_by_event`                | hash   | `<endpointId>:<eventId>` → messageId (one per pair)       |
 * | `wh_due`                         | zset   | messageId scored by dueAt: when it is due, or its lease lapses |
 * | `wh_attempts:<endpointId>`       | zset   | attemptId scored by a global sequence (newest = highest)  |
 * | `wh_attempt:<attemptId>`         | string | the attempt as JSON (immutable)                           |
 * | `wh_attempt_seq`                 | string | the attempt sequence (INCR)                               |
 *
 * A claim is one script per candidate message: it takes the message only if its `wh_due` score is
 * still <= now, and moves the score to the lease's end, so of two instances racing for a message
 * exactly one gets it. Recording an attempt is one script that checks the lease holder first.
 * Numbers are passed and stored as decimal strings; Lua only compares them (tonumber).
 */
import type { Redis } from "ioredis";
import type { EventType } from "../../ports/events.js";
import { StoreUnavailableError } from "../../ports/errors.js";
import type {
  AttemptPage,
  AttemptResult,
  EndpointSecrets,
  WebhookAttemptRecord,
  WebhookEndpointRecord,
  WebhookMessageRecord,
  WebhookStore,
} from "../../ports/webhooks.js";
import { isRedisUnavailable } from "./client.js";

const SCRIPTS = {
  // KEYS: byEvent, msg, due. ARGV: field, messageId, dueAt, then field/value pairs of the message.
  bgWhEnqueue: {
    numberOfKeys: 3,
    lua: `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) end
return 1`,
  },
  // KEYS: due, msg. ARGV: messageId, now, leaseUntil, owner.
  bgWhClaim: {
    numberOfKeys: 2,
    lua: `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return nil end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('ZREM', KEYS[1], ARGV[1]) return nil end
redis.call('HSET', KEYS[2], 'status', 'delivering', 'dueAt', ARGV[3], 'leaseOwner', ARGV[4], 'updatedAt', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return redis.call('HGETALL', KEYS[2])`,
  },
  // KEYS: msg, due, attempt, attempts, seq, endpoint.
  // ARGV: messageId, owner, status, attempts, dueAt ('' = none), now, attemptJson, attemptId, disableReason ('' = no).
  bgWhRecord: {
    numberOfKeys: 6,
    lua: `
if redis.call('HGET', KEYS[1], 'status') ~= 'delivering' or redis.call('HGET', KEYS[1], 'leaseOwner') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'attempts', ARGV[4], 'updatedAt', ARGV[6])
redis.call('HDEL', KEYS[1], 'leaseOwner')
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'dueAt', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('HDEL', KEYS[1], 'dueAt')
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local seq = redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[3], ARGV[7])
redis.call('ZADD', KEYS[4], seq, ARGV[8])
if ARGV[9] ~= '' and redis.call('EXISTS', KEYS[6]) == 1 then
  redis.call('HSET', KEYS[6], 'status', 'disabled', 'disabledReason', ARGV[9], 'updatedAt', ARGV[6])
end
return 1`,
  },
  // KEYS: msg, due. ARGV: messageId, now.
  bgWhResend: {
    numberOfKeys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local due = redis.call('HGET', KEYS[1], 'dueAt')
if redis.call('HGET', KEYS[1], 'status') == 'delivering' and due and tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'pending', 'dueAt', ARGV[2], 'scheduleBase', redis.call('HGET', KEYS[1], 'attempts'), 'updatedAt', ARGV[2])
redis.call('HDEL', KEYS[1], 'leaseOwner')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1`,
  },
  // KEYS: endpoint. ARGV: now, then field/value pairs to set, then '--', then fields to delete.
  bgWhSecrets: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local i = 2
local set = {'updatedAt', ARGV[1]}
while ARGV[i] ~= '--' do set[#set + 1] = ARGV[i] set[#set + 1] = ARGV[i + 1] i = i + 2 end
redis.call('HSET', KEYS[1], unpack(set))
for j = i + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[j]) end
return 1`,
  },
} as const;

type Flat = Record<string, string>;

/** Field/value pairs of a record, leaving out nulls (absent field = null). */
function pairs(fields: Record<string, string | number | null>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== null) out.push(k, String(v));
  return out;
}

function toFlat(reply: unknown): Flat {
  if (!Array.isArray(reply)) return reply as Flat;
  const out: Flat = {};
  for (let i = 0; i < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

const nOrNull = (v: string | undefined) => (v === undefined ? null : Number(v));

function endpointFields(e: WebhookEndpointRecord) {
  return {
    endpointId: e.endpointId,
    clientId: e.clientId,
    url: e.url,
    eventTypes: e.eventTypes === null ? null : JSON.stringify(e.eventTypes),
    itemEvents: e.itemEvents ? 1 : 0,
    description: e.description,
    status: e.status,
    disabledReason: e.disabledReason,
    secretCipher: e.secretCipher,
    previousSecretCipher: e.previousSecretCipher,
    previousSecretExpiresAt: e.previousSecretExpiresAt,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  };
}

function endpointFrom(f: Flat): WebhookEndpointRecord {
  return {
    endpointId: f.endpointId,
    clientId: Number(f.clientId),
    url: f.url,
    eventTypes: f.eventTypes === undefined ? null : (JSON.parse(f.eventTypes) as EventType[]),
    itemEvents: f.itemEvents === "1",
    description: f.description ?? null,
    status: f.status as WebhookEndpointRecord["status"],
    disabledReason: f.disabledReason ?? null,
    secretCipher: f.secretCipher,
    previousSecretCipher: f.previousSecretCipher ?? null,
    previousSecretExpiresAt: nOrNull(f.previousSecretExpiresAt),
    createdAt: Number(f.createdAt),
    updatedAt: Number(f.updatedAt),
  };
}

function messageFields(m: WebhookMessageRecord) {
  return {
    messageId: m.messageId,
    endpointId: m.endpointId,
    clientId: m.clientId,
    eventId: m.eventId,
    eventType: m.eventType,
    body: m.body,
    status: m.status,
    attempts: m.attempts,
    scheduleBase: m.scheduleBase,
    dueAt: m.dueAt,
    leaseOwner: m.leaseOwner,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
  };
}

function messageFrom(f: Flat): WebhookMessageRecord {
  return {
    messageId: f.messageId,
    endpointId: f.endpointId,
    clientId: Number(f.clientId),
    eventId: f.eventId,
    eventType: f.eventType as EventType,
    body: f.body,
    status: f.status as WebhookMessageRecord["status"],
    attempts: Number(f.attempts),
    scheduleBase: Number(f.scheduleBase),
    dueAt: nOrNull(f.dueAt),
    leaseOwner: f.leaseOwner ?? null,
    createdAt: Number(f.createdAt),
    updatedAt: Number(f.updatedAt),
  };
}

type Scripted = Redis & Record<keyof typeof SCRIPTS, (...args: (string | number)[]) => Promise<unknown>>;

export class RedisWebhookStore implements WebhookStore {
  private readonly redis: Scripted;

  /** `key(...parts)` builds a key under the store's `{prefix}:v1:`. */
  constructor(
    redis: Redis,
    private readonly key: (...parts: string[]) => string,
  ) {
    for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: def.numberOfKeys, lua: def.lua });
    this.redis = redis as Scripted;
    // Redis that cannot be reached surfaces as StoreUnavailableError (503), like the other ports.
    const proto = RedisWebhookStore.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of Object.getOwnPropertyNames(RedisWebhookStore.prototype)) {
      if (name === "constructor") continue;
      const fn = proto[name];
      (this as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
        try {
          return await fn.apply(this, args);
        } catch (e) {
          if (isRedisUnavailable(e)) throw new StoreUnavailableError(`Redis unavailable (webhooks.${name}): ${(e as Error).message}`, { cause: e });
          throw e;
        }
      };
    }
  }

  private readonly k = {
    endpoint: (id: string) => this.key("wh_endpoint", id),
    endpoints: (clientId: number) => this.key("wh_endpoints", String(clientId)),
    msg: (id: string) => this.key("wh_msg", id),
    byEvent: () => this.key("wh_msg_by_event"),
    due: () => this.key("wh_due"),
    attempts: (endpointId: string) => this.key("wh_attempts", endpointId),
    attempt: (id: string) => this.key("wh_attempt", id),
    seq: () => this.key("wh_attempt_seq"),
  };

  async createEndpoint(e: WebhookEndpointRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.k.endpoint(e.endpointId), ...pairs(endpointFields(e)))
      .zadd(this.k.endpoints(e.clientId), String(e.createdAt), e.endpointId)
      .exec();
  }

  async getEndpoint(endpointId: string): Promise<WebhookEndpointRecord | null> {
    const f = await this.redis.hgetall(this.k.endpoint(endpointId));
    return f.endpointId ? endpointFrom(f) : null;
  }

  async listEndpoints(clientId: number): Promise<WebhookEndpointRecord[]> {
    const ids = await this.redis.zrange(this.k.endpoints(clientId), "0", "-1");
    const out: WebhookEndpointRecord[] = [];
    for (const id of ids) {
      const e = await this.getEndpoint(id);
      if (e) out.push(e);
    }
    return out;
  }

  async setSecrets(endpointId: string, x: EndpointSecrets, now: number): Promise<boolean> {
    const set = pairs({ secretCipher: x.secretCipher, previousSecretCipher: x.previousSecretCipher, previousSecretExpiresAt: x.previousSecretExpiresAt });
    const del = [x.previousSecretCipher === null ? "previousSecretCipher" : null, x.previousSecretExpiresAt === null ? "previousSecretExpiresAt" : null].filter(
      (v): v is string => v !== null,
    );
    return (await this.redis.bgWhSecrets(this.k.endpoint(endpointId), String(now), ...set, "--", ...del)) === 1;
  }

  async deleteEndpoint(endpointId: string): Promise<boolean> {
    const e = await this.getEndpoint(endpointId);
    if (!e) return false;
    const [[, removed]] = (await this.redis.multi().del(this.k.endpoint(endpointId)).zrem(this.k.endpoints(e.clientId), endpointId).exec()) as [Error | null, number][];
    return removed === 1;
  }

  async enqueue(messages: WebhookMessageRecord[]): Promise<number> {
    let added = 0;
    for (const m of messages) {
      const r = await this.redis.bgWhEnqueue(
        this.k.byEvent(),
        this.k.msg(m.messageId),
        this.k.due(),
        `${m.endpointId}:${m.eventId}`,
        m.messageId,
        m.dueAt === null ? "" : String(m.dueAt),
        ...pairs(messageFields(m)),
      );
      added += Number(r);
    }
    return added;
  }

  async getMessage(messageId: string): Promise<WebhookMessageRecord | null> {
    const f = await this.redis.hgetall(this.k.msg(messageId));
    return f.messageId ? messageFrom(f) : null;
  }

  async claimDue(now: number, limit: number, leaseMs: number, owner: string): Promise<WebhookMessageRecord[]> {
    // Candidates first (a plain read), then one atomic claim each: a candidate another instance
    // took meanwhile has a score in the future and is skipped.
    const ids = await this.redis.zrangebyscore(this.k.due(), "-inf", String(now), "LIMIT", "0", String(limit));
    const out: WebhookMessageRecord[] = [];
    for (const id of ids) {
      const reply = await this.redis.bgWhClaim(this.k.due(), this.k.msg(id), id, String(now), String(now + leaseMs), owner);
      if (reply) out.push(messageFrom(toFlat(reply)));
    }
    return out;
  }

  async recordAttempt(messageId: string, owner: string, result: AttemptResult, now: number): Promise<boolean> {
    const a = result.attempt;
    const r = await this.redis.bgWhRecord(
      this.k.msg(messageId),
      this.k.due(),
      this.k.attempt(a.attemptId),
      this.k.attempts(a.endpointId),
      this.k.seq(),
      this.k.endpoint(a.endpointId),
      messageId,
      owner,
      result.status,
      String(a.attempt),
      result.status === "pending" && result.dueAt !== null ? String(result.dueAt) : "",
      String(now),
      JSON.stringify(a),
      a.attemptId,
      result.disableEndpoint?.reason ?? "",
    );
    return r === 1;
  }

  async resend(messageId: string, now: number): Promise<boolean> {
    return (await this.redis.bgWhResend(this.k.msg(messageId), this.k.due(), messageId, String(now))) === 1;
  }

  async nextDueAt(): Promise<number | null> {
    const first = await this.redis.zrange(this.k.due(), "0", "0", "WITHSCORES");
    return first.length === 2 ? Number(first[1]) : null;
  }

  async listAttempts(endpointId: string, opts: { limit: number; startingAfter?: string }): Promise<AttemptPage | null> {
    let max = "+inf";
    if (opts.startingAfter !== undefined) {
      const score = await this.redis.zscore(this.k.attempts(endpointId), opts.startingAfter);
      if (score === null) return null;
      max = `(${score}`;
    }
    const ids = await this.redis.zrevrangebyscore(this.k.attempts(endpointId), max, "-inf", "LIMIT", "0", String(opts.limit + 1));
    const page = ids.slice(0, opts.limit);
    const texts = page.length ? await this.redis.mget(...page.map((id) => this.k.attempt(id))) : [];
    const attempts = texts.filter((t): t is string => t !== null).map((t) => JSON.parse(t) as WebhookAttemptRecord);
    return { attempts, hasMore: ids.length > opts.limit };
  }
}
