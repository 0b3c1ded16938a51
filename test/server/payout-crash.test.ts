/**
 * The exactly-once proof of payout items, for real: a 5,000-item payout batch runs in the real
 * server (src/node.ts in a child process); the server is killed with SIGKILL mid-batch, while the
 * ledger holds money movements of items whose outcomes are not recorded yet; a restarted server on
 * the same SQLite file (or, on Redis, the other of two instances) finishes the batch. Then, read
 * from the store itself:
 *
 * - money is conserved: wallets (treasury included) + system accounts sum to zero before and after,
 *   nothing new came from system:funding, no wallet's balance differs from its entries, and the
 *   treasury lost exactly the sum of the items;
 * - the ledger journal holds exactly the entries the items' outcomes call for, no more: per item one
 *   transfer (treasury → recipient wallet), one payout debit, and one settlement (rail) or one refund
 *   (declined, unavailable) or none (pending); so no transfer credited twice and no payout settled
 *   twice;
 * - every item's outcome is recorded once (one attempt) and matches its amount's sandbox outcome,
 *   and the batch's counts match;
 * - recipients who had no wallet got exactly one, under the derived id.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { openSqliteStore } from "../../src/adapters/node/gateway.js";
import { RedisStore } from "../../src/adapters/redis/redis-store.js";
import { parseConfig } from "../../src/config.js";
import { newId } from "../../src/core/ids.js";
import { payoutPayoutId, payoutTransferId, payoutWalletId } from "../../src/core/payout-items.js";
import type { BatchItemRecord } from "../../src/ports/batches.js";
import type { Store } from "../../src/ports/store.js";
import { tempDir } from "../helpers/gateway.js";
import { ACH, CHECK, money } from "../helpers/payout-batch.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const sha = (t: string) => nodeHasher.sha256Hex(t) as string;
const running: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
});

async function boot(env: Record<string, string>) {
  const s = await startServer({ DEMO_USERS: "50", SQLITE_SYNCHRONOUS: "NORMAL", LOG_LEVEL: "warn", ...env });
  running.push(s);
  return s;
}

const N = 5000;
const NEW_RECIPIENTS = 100;

/** Item i's class: 0–6 completed (ach), 7 pending (check), 8 declined (.13), 9 unavailable (.14). */
function spec(i: number) {
  const c = i % 10;
  const cents = c <= 7 ? c : c === 8 ? 13 : 14;
  const minor = (1 + (i % 5)) * 100 + cents;
  const rail = c === 7 ? "check" : "ach";
  const outcome = c <= 6 ? "completed" : c === 7 ? "pending" : "retained_in_wallet";
  return { minor, amount: `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`, rail, outcome, destination: rail === "check" ? CHECK : ACH };
}

type Entry = { account: string; amount: number; kind: string; ref: string };

interface Backend {
  store: Store;
  /** Every ledger entry (the journal). */
  entries(): Promise<Entry[]>;
  entryCount(): Promise<number>;
  close(): Promise<void>;
}

function sqliteBackend(dir: string): Backend {
  const store = openSqliteStore(parseConfig({ DATA_DIR: dir }));
  const db = new Database(join(dir, "batchgate.sqlite"), { readonly: true });
  return {
    store,
    entries: async () => (db.prepare("SELECT account, amount, kind, ref_id AS ref FROM ledger_entries").all() as any[]).map((r) => ({ ...r, amount: Number(r.amount) })),
    entryCount: async () => (db.prepare("SELECT COUNT(*) AS n FROM ledger_entries").get() as any).n as number,
    close: async () => {
      db.close();
      await store.close();
    },
  };
}

function redisBackend(prefix: string): Backend {
  const redis = new Redis(REDIS_URL);
  const store = new RedisStore({ redis, prefix });
  const key = `{${prefix}}:v1:entries`;
  return {
    store,
    entries: async () =>
      (await redis.lrange(key, 0, -1)).map((j) => {
        const [account, amount, kind, ref] = JSON.parse(j) as string[];
        return { account, amount: Number(amount), kind, ref };
      }),
    entryCount: () => redis.llen(key),
    close: async () => {
      await store.close().catch(() => {});
      redis.disconnect();
    },
  };
}

async function allItems(store: Store, batchId: string): Promise<BatchItemRecord[]> {
  const out: BatchItemRecord[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await store.batches.listItems(batchId, { limit: 1000, startingAfter: after });
    out.push(...page.items);
    if (!page.hasMore) return out;
    after = page.items.at(-1)!.index;
  }
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Entries an item's money movements write at most (transfer 2, payout 2, settlement or refund 2). */
const MAX_ENTRIES_PER_ITEM = 6;

async function killMidBatch(opts: { dir: string; backend: Backend; first: RunningServer; survivor: () => Promise<RunningServer>; frozenGap: boolean }) {
  const { backend, first } = opts;
  const { store } = backend;
  const creds = JSON.parse(readFileSync(join(opts.dir, "demo-credentials.json"), "utf8"));
  const clientId = creds.clients[0].client_id as number;
  const now = Date.now();
  const tw = (await store.treasury.treasuryWallet(clientId, "USD")) ?? (await store.treasury.openTreasuryWallet(clientId, `wal_treasury_${clientId}_usd`, "USD", now)).wallet;
  expect((await store.ledger.fundWallet({ fundingId: `fund_crash_${tw.walletId}`, walletId: tw.walletId, amount: 100_000_00, currency: "USD", reason: "crash test", createdAt: now })).ok).toBe(true);
  const fresh: string[] = [];
  for (let i = 0; i < NEW_RECIPIENTS; i++) {
    const userId = newId("usr", now);
    await store.ledger.createUser({ userId, email: `fresh${i}-${userId}@example.com`, firstName: "Fresh", lastName: String(i), createdAt: now });
    fresh.push(userId);
  }
  const recipients: string[] = [...creds.users.map((u: any) => u.user_id), ...fresh];
  const recipientOf = (i: number) => recipients[i % recipients.length];

  const before = await money(store.ledger);
  const trBefore = (await store.ledger.getWallet(tw.walletId))!.balance;
  const baseEntries = await backend.entryCount();

  const c = creds.clients[0];
  const submitted = await fetch(`${first.base}/v1/batches`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString("base64")}` },
    body: JSON.stringify({
      label: "payout crash",
      customer_batch_id: "crash-run-1",
      process: true,
      items: Array.from({ length: N }, (_, i) => {
        const s = spec(i);
        return { type: "payout", user_id: recipientOf(i), amount: s.amount, currency: "USD", rail: s.rail, destination: s.destination, idempotency_key: `crash-${i}`, reference_id: `r${i}`, customer_transaction_id: `ctx-crash-${i}` };
      }),
    }),
  });
  const made = (await submitted.json()) as any;
  expect(submitted.status, JSON.stringify(made).slice(0, 500)).toBe(202);
  const id = made.id as string;

  // Kill while items' money has moved but their outcomes are not recorded: the journal holds more
  // entries than the recorded items can account for.
  const atKill = await until("a mid-slice moment to kill", async () => {
    const b = (await store.batches.getBatch(id))!;
    const recorded = b.succeededCount + b.failedCount;
    if (recorded >= N) throw new Error("the batch ended before the kill");
    const moved = (await backend.entryCount()) - baseEntries;
    const gap = moved - MAX_ENTRIES_PER_ITEM * recorded;
    return recorded >= 1000 && gap >= MAX_ENTRIES_PER_ITEM * 50 && gap <= MAX_ENTRIES_PER_ITEM * 300 ? { recorded, moved } : null;
  });
  await first.stop("SIGKILL");
  const b = (await store.batches.getBatch(id))!;
  expect(b.status).toBe("processing");
  if (opts.frozenGap) {
    // Nothing runs now: the unrecorded movements are there to be replayed (not made again).
    const recorded = b.succeededCount + b.failedCount;
    const moved = (await backend.entryCount()) - baseEntries;
    expect(moved).toBeGreaterThan(MAX_ENTRIES_PER_ITEM * recorded);
    expect(recorded).toBeLessThan(N);
  }

  const s = await opts.survivor();
  const done = await until("the batch to end", async () => {
    const x = (await store.batches.getBatch(id))!;
    return x.status === "processing" ? null : x;
  });

  // Outcomes: one attempt each, as the amount says.
  const items = await allItems(store, id);
  expect(items).toHaveLength(N);
  const wantFailed = Array.from({ length: N }, (_, i) => i).filter((i) => i % 10 >= 8).length;
  expect(done).toMatchObject({ status: "completed_with_failures", totalCount: N, succeededCount: N - wantFailed, failedCount: wantFailed });
  const transferOf = new Map<string, number>();
  const payoutOf = new Map<string, number>();
  for (const it of items) {
    const sp = spec(it.index);
    expect(it.attempts, `item ${it.index}`).toHaveLength(1);
    const r = it.attempts[0].response as any;
    expect(r.outcome, `item ${it.index}`).toBe(sp.outcome);
    expect(it.status).toBe(sp.outcome === "retained_in_wallet" ? "failed" : "succeeded");
    const t = await payoutTransferId(sha, id, it.index);
    const p = await payoutPayoutId(sha, id, 1, it.index);
    expect(r.transfer_id).toBe(t);
    expect(r.customer_transaction_id).toBe(`ctx-crash-${it.index}`);
    expect(r.payout_id).toBe(p);
    transferOf.set(t, it.index);
    payoutOf.set(p, it.index);
  }

  // The journal: exactly the entries these outcomes call for.
  const entries = (await backend.entries()).slice(baseEntries);
  const byRef = new Map<string, Entry[]>();
  for (const e of entries) byRef.set(e.ref, [...(byRef.get(e.ref) ?? []), e]);
  let expectedEntries = 0;
  let sumAll = 0;
  let sumCompleted = 0;
  let sumPending = 0;
  for (const it of items) {
    const sp = spec(it.index);
    const r = it.attempts[0].response as any;
    sumAll += sp.minor;
    const t = byRef.get(r.transfer_id) ?? [];
    expect(t.map((e) => [e.kind, e.account, e.amount]).sort(), `transfer of item ${it.index}`).toEqual(
      [
        ["payment", tw.walletId, -sp.minor],
        ["payment", r.wallet_id, sp.minor],
      ].sort(),
    );
    const po = byRef.get(r.payout_id) ?? [];
    const kinds = po.map((e) => e.kind).sort();
    if (sp.outcome === "completed") {
      expect(kinds, `payout of item ${it.index}`).toEqual(["payout", "payout", "payout_settled", "payout_settled"]);
      sumCompleted += sp.minor;
    } else if (sp.outcome === "pending") {
      expect(kinds, `payout of item ${it.index}`).toEqual(["payout", "payout"]);
      sumPending += sp.minor;
    } else {
      expect(kinds, `payout of item ${it.index}`).toEqual(["payout", "payout", "payout_refund", "payout_refund"]);
    }
    expectedEntries += 2 + po.length;
  }
  // Nothing else moved (no duplicate transfer or settlement under another name).
  expect(entries.length).toBe(expectedEntries);
  expect(byRef.size).toBe(transferOf.size + payoutOf.size);

  const after = await money(store.ledger);
  expect(before.total).toBe(0);
  expect(after.total).toBe(0);
  expect(after.entrySum).toBe(0);
  expect(after.mismatched).toEqual([]);
  expect(after.system["system:funding"]).toBe(before.system["system:funding"]);
  expect((await store.ledger.getWallet(tw.walletId))!.balance).toBe(trBefore - sumAll);
  expect((after.system["system:rail:ach"] ?? 0) - (before.system["system:rail:ach"] ?? 0)).toBe(sumCompleted);
  expect((after.system["system:payouts_in_flight"] ?? 0) - (before.system["system:payouts_in_flight"] ?? 0)).toBe(sumPending);
  expect(after.walletSum - before.walletSum).toBe(-(sumCompleted + sumPending));

  // The client reads the same through the API.
  // (Retried: the restarted server may listen on the killed one's port, whose pooled socket is dead.)
  const results = await until("the results page", async () => {
    const page = await fetch(`${s.base}/v1/batches/${id}/results?limit=10`, { headers: { authorization: `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString("base64")}` } });
    return page.ok ? ((await page.json()) as any) : null;
  });
  expect(results.data[8]).toMatchObject({
    index: 8,
    type: "payout",
    customer_batch_id: "crash-run-1",
    customer_transaction_id: "ctx-crash-8",
    status: "failed",
    http_status: 422,
    response: { outcome: "retained_in_wallet", error_code: "RAIL_DECLINED", payout_status: "failed", transfer_id: await payoutTransferId(sha, id, 8) },
  });
  console.info(
    `payout crash (${opts.frozenGap ? "SQLite" : "Redis"}): ${N} items; at the kill ${atKill.recorded} recorded, ${atKill.moved} journal entries written (at most ${MAX_ENTRIES_PER_ITEM * atKill.recorded} for the recorded items)`,
  );

  // Fresh recipients: one wallet each, opened under the derived id.
  for (const u of fresh) {
    const ws = await store.ledger.listWallets(u);
    expect(ws.map((w) => w.walletId)).toEqual([await payoutWalletId(sha, u, "USD")]);
  }
  return { atKill, survivor: s };
}

describe("payout batch across a kill -9 on the embedded store", () => {
  it("the restarted server finishes the batch; every movement happened once and money is conserved", async () => {
    const dir = tempDir("batchgate-payout-crash-");
    // A rate that makes the run take a few seconds, so the kill lands mid-batch.
    const env = { DATA_DIR: dir, ASYNC_BATCH_RATE: "1000", ASYNC_BATCH_SLICE: "500" };
    const first = await boot(env);
    const backend = sqliteBackend(dir);
    try {
      const { survivor } = await killMidBatch({ dir, backend, first, survivor: () => boot(env), frozenGap: true });
      await survivor.stop("SIGKILL");
    } finally {
      await backend.close();
    }
  }, 120_000);
});

describeRedis("payout batch across a kill -9 with two instances on Redis", () => {
  const prefix = uniquePrefix("bgpayoutcrash");
  afterAll(() => deleteRedisPrefix(prefix));

  it("the other instance finishes the batch; every movement happened once and money is conserved", async () => {
    const env = { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, ASYNC_BATCH_RATE: "500", ASYNC_BATCH_SLICE: "250", ASYNC_BATCH_JOB_LOCK_MS: "2000" };
    const dirA = tempDir("batchgate-payout-crash-a-");
    const a = await boot({ ...env, DATA_DIR: dirA });
    const b = await boot({ ...env, DATA_DIR: tempDir("batchgate-payout-crash-b-") });
    const backend = redisBackend(prefix);
    try {
      await killMidBatch({ dir: dirA, backend, first: a, survivor: async () => b, frozenGap: false });
    } finally {
      await backend.close();
    }
  }, 120_000);
});
