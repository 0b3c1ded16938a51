/**
 * A wallet's balance changed while batches of lookups stream in is answered by the very next
 * batch, whatever the SQLite store's snapshot wallet cache holds: on one process (a payment made
 * through the gateway itself, a funding through its store) and across processes on one SQLite
 * file (the server, and this test process changing the file through its own store and through a
 * bare SQL statement). Batches keep streaming during each change; every batch sent after the
 * change returned must show the new balance. The Redis store keeps no wallet cache.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { type Phase, streamAroundChange } from "../helpers/batch-stream.js";
import { makeGateway, tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";

interface User {
  user_id: string;
  access_token: string;
  wallets: { wallet_id: string; currency: string }[];
}
interface Creds {
  clients: { client_id: number; client_secret: string }[];
  users: User[];
}
// A batch sent before a change may be served after it commits (it was on the wire), so "before"
// answers may show either balance; "after" answers (sent once the change returned) only the new one.
type CallResult = { reference_id: string; status: number; response: { balance?: string; wallet_id?: string } };
type Send = (body: string) => Promise<CallResult[]>;

const UNLIMITED = { CLIENT_RATE_LIMIT_POINTS: "1000000000", TOKEN_RATE_LIMIT_POINTS: "1000000000" };
const find = (u: User, ref: string) => ({ call: "/wallet/find", authorization: u.access_token, reference_id: ref, parameters: { wallet_id: u.wallets[0].wallet_id } });

/**
 * Streams batches (the watched user's lookup, then a bystander's) through every sender at once,
 * applies `change` mid-stream and returns what the watched lookup answered before it began and
 * after it returned. Every result must be a 200 for the right wallet.
 */
async function balancesAroundChange(creds: Creds, senders: Send[], watched: User, bystander: User, change: () => Promise<unknown>) {
  const client = creds.clients[0];
  const body = JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, calls: [find(watched, "watched"), find(bystander, "bystander")] });
  const seen = await streamAroundChange(senders, body, change);
  for (const { answer: [w, b] } of seen) {
    expect(w).toMatchObject({ reference_id: "watched", status: 200, response: { wallet_id: watched.wallets[0].wallet_id } });
    expect(b).toMatchObject({ reference_id: "bystander", status: 200, response: { wallet_id: bystander.wallets[0].wallet_id } });
  }
  const count = (p: Phase) => seen.filter((s) => s.phase === p).length;
  expect(count("before")).toBeGreaterThanOrEqual(10);
  expect(count("after")).toBeGreaterThanOrEqual(10 * senders.length);
  const of = (p: Phase) => [...new Set(seen.filter((s) => s.phase === p).map((s) => s.answer[0]!.response.balance!))];
  return { before: of("before"), after: of("after") };
}

const cents = (amount: string) => Math.round(Number(amount) * 100);

/** Batches sent before the change began saw the old balance, or the new one if they ran after it committed. */
function expectBefore(before: string[], old: number, changed: number) {
  expect(before.map(cents)).toContain(old);
  for (const b of before) expect([old, changed]).toContain(cents(b));
}

describe("a wallet's balance during a stream of lookups: SQLite, one process", () => {
  it("follows a payment made through the gateway and a funding made through its store", async () => {
    const gw = await makeGateway({ file: true, users: 4, env: UNLIMITED });
    const send: Send = async (body) => {
      const res = await gw.app.request("/batch/create", { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(200);
      return ((await res.json()) as { calls: CallResult[] }).calls;
    };
    const [u0, u1, , u3] = gw.creds.users as User[];
    const start = cents((await gw.call("/wallet/find", u0.access_token, { wallet_id: u0.wallets[0].wallet_id })).body.balance);

    const paid = await balancesAroundChange(gw.creds, [send, send], u0, u3, async () => {
      const r = await gw.call("/payment/create", u1.access_token, {
        from_wallet_id: u1.wallets[0].wallet_id,
        to_wallet_id: u0.wallets[0].wallet_id,
        amount: "1.25",
        currency: u0.wallets[0].currency,
      });
      expect(r.res.status).toBe(200);
    });
    expectBefore(paid.before, start, start + 125);
    expect(paid.after.map(cents)).toEqual([start + 125]);

    const funded = await balancesAroundChange(gw.creds, [send, send], u0, u3, async () => {
      const r = await gw.services.store.ledger.fundWallet({
        fundingId: "fund_stream",
        walletId: u0.wallets[0].wallet_id,
        amount: 1_000,
        currency: u0.wallets[0].currency,
        reason: "test",
        createdAt: Date.now(),
      });
      expect(r.ok).toBe(true);
    });
    expect(funded.after.map(cents)).toEqual([start + 125 + 1_000]);
    await gw.services.store.close();
  }, 60_000);
});

describe("a wallet's balance during a stream of lookups: SQLite, two processes on one file", () => {
  let server: RunningServer;
  let store: SqlStore;
  let creds: Creds;
  const dir = tempDir();
  const http: Send[] = [];

  beforeAll(async () => {
    server = await startServer({ ...UNLIMITED, DATA_DIR: dir, DEMO_USERS: "4", STORE: "sqlite" });
    creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8")) as Creds;
    // The second process's view of the same file: what an admin tool changes wallets through.
    store = new SqlStore(openBetterSqlite({ filename: join(dir, "batchgate.sqlite") }));
    const send: Send = async (body) => {
      const res = await fetch(`${server.base}/batch/create`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(200);
      return ((await res.json()) as { calls: CallResult[] }).calls;
    };
    http.push(send, send);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await server?.stop("SIGKILL");
  });

  it("follows a payment and a funding made by another process, on the server's next batch", async () => {
    const [u0, u1, , u3] = creds.users;
    // Minor units; the demo wallets are in a currency of two decimals, as cents() reads them.
    const start = (await store.ledger.getWallet(u0.wallets[0].wallet_id))!.balance;
    const paid = await balancesAroundChange(creds, http, u0, u3, async () => {
      const out = await store.ledger.transfer({
        paymentId: "pay_other_process",
        userId: u1.user_id,
        fromWalletId: u1.wallets[0].wallet_id,
        toWalletId: u0.wallets[0].wallet_id,
        amount: 250,
        currency: u0.wallets[0].currency,
        description: null,
        now: Date.now(),
      });
      expect(out.ok).toBe(true);
    });
    expectBefore(paid.before, start, start + 250);
    expect(paid.after.map(cents)).toEqual([start + 250]);
    const funded = await balancesAroundChange(creds, http, u0, u3, async () => {
      const r = await store.ledger.fundWallet({ fundingId: "fund_other", walletId: u0.wallets[0].wallet_id, amount: 40, currency: u0.wallets[0].currency, reason: "t", createdAt: Date.now() });
      expect(r.ok).toBe(true);
    });
    expect(funded.after.map(cents)).toEqual([start + 290]);
    expect(await store.ledger.audit()).toMatchObject({ mismatchedWallets: [] });
  }, 60_000);

  it("follows a bare SQL statement on the file, on the server's next batch", async () => {
    const [, , u2, u3] = creds.users;
    const db = new Database(join(dir, "batchgate.sqlite"));
    db.pragma("busy_timeout = 5000");
    try {
      const seen = await balancesAroundChange(creds, http, u2, u3, async () => {
        expect(db.prepare("UPDATE wallets SET balance = 123456 WHERE wallet_id = ?").run(u2.wallets[0].wallet_id).changes).toBe(1);
      });
      expect(seen.after.map(cents)).toEqual([123_456]);
    } finally {
      db.close();
    }
  }, 60_000);
});
