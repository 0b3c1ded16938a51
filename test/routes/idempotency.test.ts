/**
 * Idempotency-Key on POST endpoints and per-call idempotency_key inside batches, over real
 * SQLite. Money checks read the ledger, not just the answers.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Idempotency } from "../../src/core/idempotency.js";
import { makeGateway, sum, tempDir, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
let slow: Server;
let slowUrl: string;
/** The upstream answers /slow only when the test releases it, so "still running" is a fact, not a race; /open at once. */
const held: (() => void)[] = [];
let onSlowRequest: (() => void) | undefined;
let slowHits = 0;

beforeAll(async () => {
  slow = createServer((req, res) => {
    slowHits++;
    req.resume();
    if (req.url === "/open") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ done: true }));
      return;
    }
    held.push(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ done: true }));
    });
    onSlowRequest?.();
  });
  await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow`;
});
afterAll(() => {
  for (const release of held.splice(0)) release();
  return new Promise<void>((r) => slow.close(() => r()));
});

beforeEach(async () => {
  const file = join(tempDir(), "up.json");
  writeFileSync(file, JSON.stringify({ upstreams: [{ call: "/slow/thing", url: slowUrl }, { call: "/open/thing", url: slowUrl.replace(/\/slow$/, "/open"), auth: "none" }] }));
  gw = await makeGateway({ users: 3, file: true, env: { UPSTREAMS_FILE: file } });
});

function post(path: string, body: unknown, headers: Record<string, string>) {
  return gw.app.request(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

const payParams = (amount = "10.00") => {
  const [a, b] = gw.creds.users;
  return { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: b.wallets[0].wallet_id, amount, currency: "USD" };
};

describe("Idempotency-Key on POST /v2/<call>", () => {
  it("stores the first completed response and replays it with the same status and body", async () => {
    const a = gw.creds.users[0];
    const headers = { authorization: `Bearer ${a.access_token}`, "idempotency-key": "pay-001" };
    const first = await post("/v2/payment/create", payParams(), headers);
    const firstBody = await first.text();
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    for (let i = 0; i < 3; i++) {
      const again = await post("/v2/payment/create", payParams(), headers);
      expect(again.status).toBe(200);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await again.text()).toBe(firstBody);
    }
    const bal = await gw.balances();
    expect(bal[a.wallets[0].wallet_id]).toBe(100_000 - 1000);
    // A failed execution is a completed response too: it replays rather than running again.
    const short = { ...headers, "idempotency-key": "pay-002" };
    const broke = await post("/v2/payment/create", payParams("5000.00"), short);
    expect(broke.status).toBe(422);
    const broke2 = await post("/v2/payment/create", payParams("5000.00"), short);
    expect(broke2.status).toBe(422);
    expect(broke2.headers.get("idempotent-replayed")).toBe("true");
  });

  it("answers 422 for the same key with a different body, and keys are scoped per token", async () => {
    const [a, b] = gw.creds.users;
    const headers = { authorization: `Bearer ${a.access_token}`, "idempotency-key": "k1" };
    expect((await post("/v2/payment/create", payParams("1.00"), headers)).status).toBe(200);
    const other = await post("/v2/payment/create", payParams("2.00"), headers);
    expect(other.status).toBe(422);
    expect(((await other.json()) as any).error).toBe("idempotency_key_reused");
    // Key order does not change the fingerprint.
    const p = payParams("1.00");
    const reordered = { currency: p.currency, amount: p.amount, to_wallet_id: p.to_wallet_id, from_wallet_id: p.from_wallet_id };
    expect((await post("/v2/payment/create", reordered, headers)).headers.get("idempotent-replayed")).toBe("true");
    // Another token's k1 is its own.
    const bParams = { from_wallet_id: b.wallets[0].wallet_id, to_wallet_id: a.wallets[0].wallet_id, amount: "3.00", currency: "USD" };
    const res = await post("/v2/payment/create", bParams, { authorization: `Bearer ${b.access_token}`, "idempotency-key": "k1" });
    expect(res.status).toBe(200);
    expect(res.headers.get("idempotent-replayed")).toBeNull();
  });

  it("answers 409 while the first request with the key is still running", async () => {
    const a = gw.creds.users[0];
    const headers = { authorization: `Bearer ${a.access_token}`, "idempotency-key": "slow-1" };
    const reached = new Promise<void>((r) => (onSlowRequest = r));
    const first = post("/v2/slow/thing", { x: 1 }, headers);
    // The first request holds the key from before its upstream call until that call answers.
    await reached;
    const second = await post("/v2/slow/thing", { x: 1 }, headers);
    expect(second.status).toBe(409);
    expect(((await second.json()) as any).error).toBe("idempotency_key_in_use");
    for (const release of held.splice(0)) release();
    expect((await first).status).toBe(200);
    const r3 = await post("/v2/slow/thing", { x: 1 }, headers);
    expect(r3.headers.get("idempotent-replayed")).toBe("true");
  });

  it("stores nothing for requests rejected before execution (400/401/403/413/415/429)", async () => {
    const a = gw.creds.users[0];
    const key = { "idempotency-key": "retry-me" };
    expect((await post("/v2/payment/create", payParams(), { ...key, authorization: "Bearer at_wrong" })).status).toBe(401);
    expect((await post("/v2/payment/create", { ...payParams(), amount: 1 }, { ...key, authorization: `Bearer ${a.access_token}` })).status).toBe(400);
    const r415 = await gw.app.request("/v2/payment/create", { method: "POST", headers: { ...key, authorization: `Bearer ${a.access_token}`, "content-type": "text/plain" }, body: "{}" });
    expect(r415.status).toBe(415);
    const ok = await post("/v2/payment/create", payParams(), { ...key, authorization: `Bearer ${a.access_token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("idempotent-replayed")).toBeNull();
  });

  it("refuses a key on a call without an access token (nobody to scope it to): 400, nothing runs, nothing stored", async () => {
    const before = slowHits;
    const res = await post("/v2/open/thing", { q: 1 }, { "idempotency-key": "anon-1" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "idempotency_key_needs_identity", error_code: 1016, error_description: expect.stringContaining("Authorization: Bearer") });
    // A call that needs a token is refused the same way, before its missing token is reported.
    const pay = await post("/v2/payment/create", payParams(), { "idempotency-key": "anon-2" });
    expect(((await pay.json()) as any).error).toBe("idempotency_key_needs_identity");
    expect(slowHits).toBe(before);
    const db = openBetterSqlite({ filename: gw.sqliteFile });
    expect(db.get<{ n: number }>("SELECT COUNT(*) AS n FROM idempotency")?.n).toBe(0);
    db.close();
    // Without the key the anonymous call runs; with a token the key is accepted.
    expect((await post("/v2/open/thing", { q: 1 }, {})).status).toBe(200);
    const scoped = await post("/v2/open/thing", { q: 1 }, { "idempotency-key": "anon-1", authorization: `Bearer ${gw.creds.users[0].access_token}` });
    expect(scoped.status).toBe(200);
    expect(slowHits).toBe(before + 2);
  });

  it("validates the key: 1 to 255 visible ASCII characters", async () => {
    const auth = { authorization: `Bearer ${gw.creds.users[0].access_token}` };
    const long = await post("/v2/user", {}, { ...auth, "idempotency-key": "k".repeat(256) });
    expect(long.status).toBe(400);
    expect(((await long.json()) as any).error).toBe("invalid_idempotency_key");
    expect((await post("/v2/user", {}, { ...auth, "idempotency-key": "k".repeat(255) })).status).toBe(200);
    expect((await post("/v2/user", {}, { ...auth, "idempotency-key": "" })).status).toBe(400);
  });

  it("pays once even if the gateway died between the payment and its idempotency record", async () => {
    const a = gw.creds.users[0];
    const headers = { authorization: `Bearer ${a.access_token}`, "idempotency-key": "crash-window" };
    const first = (await (await post("/v2/payment/create", payParams("7.00"), headers)).json()) as any;
    // What a crash right after the ledger commit leaves behind: the payment, but no record.
    const db = openBetterSqlite({ filename: gw.sqliteFile });
    db.run("DELETE FROM idempotency");
    db.close();
    const retry = await post("/v2/payment/create", payParams("7.00"), headers);
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as any).payment_id).toBe(first.payment_id);
    expect((await gw.balances())[a.wallets[0].wallet_id]).toBe(100_000 - 700);
  });
});

describe("Idempotency-Key on POST /batch/create", () => {
  it("replays the whole batch once run, and never runs it twice", async () => {
    const [a] = gw.creds.users;
    const [c, c2] = gw.creds.clients;
    const body = { client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/payment/create", authorization: a.access_token, reference_id: "p", parameters: payParams("4.00") }] };
    const first = await post("/batch/create", body, { "idempotency-key": "batch-1" });
    const text = await first.text();
    const again = await post("/batch/create", body, { "idempotency-key": "batch-1" });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(text);
    expect((await gw.balances())[a.wallets[0].wallet_id]).toBe(100_000 - 400);
    const changed = await post("/batch/create", { ...body, calls: [{ ...body.calls[0], reference_id: "q" }] }, { "idempotency-key": "batch-1" });
    expect(changed.status).toBe(422);
    // Another client's batch-1 is its own key.
    const other = await post("/batch/create", { ...body, client_id: c2.client_id, client_secret: c2.client_secret }, { "idempotency-key": "batch-1" });
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect((await gw.balances())[a.wallets[0].wallet_id]).toBe(100_000 - 800);
    // A 401 is not stored and does not consume the key.
    const bad = await post("/batch/create", { ...body, client_secret: "nope" }, { "idempotency-key": "batch-2" });
    expect(bad.status).toBe(401);
    expect((await post("/batch/create", body, { "idempotency-key": "batch-2" })).headers.get("idempotent-replayed")).toBeNull();
  });

  it("honours each call's idempotency_key across batches, per call", async () => {
    const [a] = gw.creds.users;
    const before = sum(await gw.balances());
    const pay = (key: string, amount = "3.00", ref = key) => ({ call: "/payment/create", authorization: a.access_token, reference_id: ref, idempotency_key: key, parameters: payParams(amount) });
    const first = await gw.batch([pay("c-1"), pay("c-2"), { call: "/user", authorization: a.access_token, reference_id: "u" }]);
    expect(first.body.calls.map((r: any) => r.status)).toEqual([200, 200, 200]);
    expect(first.body.calls[0].replayed).toBeUndefined();
    const second = await gw.batch([pay("c-2", "3.00", "again"), pay("c-3"), pay("c-1", "9.99", "changed")]);
    expect(second.body.calls[0]).toMatchObject({ reference_id: "again", status: 200, replayed: true, response: first.body.calls[1].response });
    expect(second.body.calls[1].status).toBe(200);
    expect(second.body.calls[2]).toMatchObject({ status: 422, response: { error: "idempotency_key_reused" } });
    expect((await gw.balances())[a.wallets[0].wallet_id]).toBe(100_000 - 900);
    expect(sum(await gw.balances())).toBe(before);
    const dup = await gw.batch([pay("same", "1.00", "x"), pay("same", "1.00", "y")]);
    expect(dup.res.status).toBe(400);
    expect(dup.body.error).toBe("duplicate_idempotency_key");
  });
});

describe("idempotency retention", () => {
  it("replays within retention and removes expired records", async () => {
    const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
    let now = 1_000_000;
    const logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return logger; } };
    const idem = new Idempotency(store.idempotency, nodeHasher, { now: () => now }, logger, { retentionMs: 60_000, leaseMs: 5_000, maxHoldMs: 60_000 });
    const fp = await idem.fingerprint("x");
    const c = await idem.begin("s", "k", fp);
    expect(c.kind).toBe("claimed");
    if (c.kind === "claimed") await c.finish({ status: 200, body: "{}" });
    now += 59_000;
    expect((await idem.begin("s", "k", fp)).kind).toBe("replay");
    now += 2_000;
    expect(await store.idempotency.purgeExpired(now)).toBe(1);
    expect((await idem.begin("s", "k", fp)).kind).toBe("claimed");
    // A claim whose owner stopped renewing it (here: the fake clock jumps past the lease before a renewal) blocks only until its lease lapses.
    await expect(idem.begin("s", "k", fp)).rejects.toMatchObject({ code: "idempotency_key_in_use" });
    now += 5_001;
    expect((await idem.begin("s", "k", fp)).kind).toBe("claimed");
  });
});
