/**
 * A token revoked or re-expired while batches stream in stops working on the very next batch,
 * whatever the principal cache holds: on one process (SQLite), across processes on one SQLite file
 * (the server and a second process that changes the token through the store), and across two
 * instances on one Redis. Batches keep streaming during the change; every batch sent after the
 * change returned must refuse the token's call, and only that call.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { connectRedis } from "../../src/adapters/redis/client.js";
import { RedisStore } from "../../src/adapters/redis/redis-store.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import type { Store } from "../../src/ports/store.js";
import { streamAroundChange } from "../helpers/batch-stream.js";
import { makeGateway, tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

interface User {
  user_id: string;
  access_token: string;
  wallets: { wallet_id: string }[];
}
interface Creds {
  clients: { client_id: number; client_secret: string }[];
  users: User[];
}
type CallResult = { reference_id: string; status: number; response: { error?: string; wallet_id?: string } };
/** Sends one batch body; answers the batch's results. */
type Send = (body: string) => Promise<CallResult[]>;

/** Far above what the streams send: no batch is throttled. */
const UNLIMITED = { CLIENT_RATE_LIMIT_POINTS: "1000000000", TOKEN_RATE_LIMIT_POINTS: "1000000000" };

const hashOf = (token: string) => String(nodeHasher.sha256Hex(token));
const find = (u: User, ref: string) => ({ call: "/wallet/find", authorization: u.access_token, reference_id: ref, parameters: { wallet_id: u.wallets[0].wallet_id } });

/**
 * Streams batches (each: the victim's lookup and a bystander's) through every sender at once,
 * applies `change` mid-stream, and checks every batch: the bystander always answered, the victim
 * answered before the change and was refused in every batch sent after `change` resolved.
 */
async function changeDuringStream(creds: Creds, senders: Send[], victim: User, bystander: User, change: () => Promise<unknown>) {
  const client = creds.clients[0];
  const body = JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, calls: [find(victim, "victim"), find(bystander, "bystander")] });
  const seen = (await streamAroundChange(senders, body, change)).map(({ phase, answer: [v, b] }) => ({ after: phase === "after", victim: v, bystander: b }));
  const counts = () => ({ before: seen.filter((s) => !s.after).length, after: seen.filter((s) => s.after).length });
  expect(counts().before).toBeGreaterThanOrEqual(10);
  expect(counts().after).toBeGreaterThanOrEqual(10 * senders.length);
  for (const s of seen) {
    expect(s.bystander).toMatchObject({ reference_id: "bystander", status: 200, response: { wallet_id: bystander.wallets[0].wallet_id } });
    if (s.after) expect(s.victim).toMatchObject({ reference_id: "victim", status: 401, response: { error: "invalid_token" } });
    else expect([200, 401]).toContain(s.victim.status);
  }
  // The stream did see the token working before the change.
  expect(seen.some((s) => !s.after && s.victim.status === 200)).toBe(true);
}

const httpSender =
  (base: string): Send =>
  async (body) => {
    const res = await fetch(`${base}/batch/create`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    return ((await res.json()) as { calls: CallResult[] }).calls;
  };

describe("revocation during a stream of batches: SQLite, one process", () => {
  it("stops a revoked token, then an expired one, on the next batch", async () => {
    const gw = await makeGateway({ file: true, users: 4, env: UNLIMITED });
    const send: Send = async (body) => {
      const res = await gw.app.request("/batch/create", { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(200);
      return ((await res.json()) as { calls: CallResult[] }).calls;
    };
    const [u0, u1, , u3] = gw.creds.users as User[];
    const tokens = gw.services.store.tokens;
    // Two concurrent streams on the one process.
    await changeDuringStream(gw.creds, [send, send], u0, u3, () => tokens.revokeToken(hashOf(u0.access_token), Date.now()));
    await changeDuringStream(gw.creds, [send, send], u1, u3, () => tokens.expireToken(hashOf(u1.access_token), Date.now()));
    const single = await gw.call("/wallet/find", u0.access_token, { wallet_id: u0.wallets[0].wallet_id });
    expect(single.res.status).toBe(401);
    await gw.services.store.close();
  }, 60_000);
});

describe("revocation during a stream of batches: SQLite, two processes on one file", () => {
  let server: RunningServer;
  let store: Store;
  let creds: Creds;
  const dir = tempDir();

  beforeAll(async () => {
    server = await startServer({ ...UNLIMITED, DATA_DIR: dir, DEMO_USERS: "4", STORE: "sqlite" });
    creds = JSON.parse(readFileSync(join(dir, "demo-credentials.json"), "utf8")) as Creds;
    // The second process's view of the same file: what an admin tool would change tokens through.
    store = new SqlStore(openBetterSqlite({ filename: join(dir, "batchgate.sqlite") }));
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await server?.stop("SIGKILL");
  });

  it("stops a token revoked by another process on the server's next batch and single call", async () => {
    const [u0, , , u3] = creds.users;
    await changeDuringStream(creds, [httpSender(server.base), httpSender(server.base)], u0, u3, () => store.tokens.revokeToken(hashOf(u0.access_token), Date.now()));
    const res = await fetch(`${server.base}/v2/wallet/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${u0.access_token}` },
      body: JSON.stringify({ wallet_id: u0.wallets[0].wallet_id }),
    });
    expect(res.status).toBe(401);
  }, 60_000);

  it("refuses a client rotated, then disabled, by another process on the server's next batch, before any call runs", async () => {
    // Its token is not revoked or expired by the other tests here.
    const u3 = creds.users[3];
    const clientId = 424_242;
    await store.clients.createClient({ clientId, name: "stream", secretHash: hashOf("cs_stream_old"), status: "active", createdAt: Date.now() });
    const body = (secret: string) => JSON.stringify({ client_id: clientId, client_secret: secret, calls: [find(u3, "a")] });
    /** Streams one client's batches from two senders, applies `change` mid-stream; every batch sent after it must be refused. */
    const stream = async (secret: string, change: () => Promise<unknown>) => {
      let changed = false;
      let stop = false;
      const seen: { after: boolean; status: number; error?: string; call?: number }[] = [];
      const loops = [0, 1].map(async () => {
        while (!stop) {
          const after = changed;
          const res = await fetch(`${server.base}/batch/create`, { method: "POST", headers: { "content-type": "application/json" }, body: body(secret) });
          const out = (await res.json()) as { error?: string; calls?: CallResult[] };
          seen.push({ after, status: res.status, error: out.error, call: out.calls?.[0]?.status });
        }
      });
      const until = async (ok: () => boolean) => {
        const deadline = Date.now() + 20_000;
        while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      };
      await until(() => seen.length >= 10);
      await change();
      changed = true;
      await until(() => seen.filter((x) => x.after).length >= 20);
      stop = true;
      await Promise.all(loops);
      expect(seen.filter((x) => !x.after && x.status === 200 && x.call === 200).length).toBeGreaterThanOrEqual(10);
      const after = seen.filter((x) => x.after);
      expect(after.length).toBeGreaterThanOrEqual(20);
      for (const x of after) expect(x).toMatchObject({ status: 401, error: "invalid_client" });
    };
    await stream("cs_stream_old", () => store.clients.rotateClientSecret!(clientId, hashOf("cs_stream_new")));
    await stream("cs_stream_new", () => store.clients.setClientStatus!(clientId, "disabled"));
  }, 60_000);

  it("stops a token expired by another process on the server's next batch", async () => {
    const [, u1, , u3] = creds.users;
    await changeDuringStream(creds, [httpSender(server.base)], u1, u3, () => store.tokens.expireToken(hashOf(u1.access_token), Date.now()));
  }, 60_000);
});

describeRedis("revocation during a stream of batches: two instances on one Redis", () => {
  const prefix = uniquePrefix("bgtest-revoke");
  let a: RunningServer;
  let b: RunningServer;
  let store: RedisStore;
  let creds: Creds;

  beforeAll(async () => {
    const dirA = tempDir();
    const env = { ...UNLIMITED, STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, DEMO_USERS: "4" };
    a = await startServer({ ...env, DATA_DIR: dirA });
    b = await startServer({ ...env, DATA_DIR: tempDir() });
    creds = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8")) as Creds;
    store = new RedisStore({ redis: await connectRedis(REDIS_URL), prefix });
  }, 90_000);
  afterAll(async () => {
    await store?.close();
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    await deleteRedisPrefix(prefix);
  });

  it("stops a revoked token on both instances' next batch", async () => {
    const [u0, , , u3] = creds.users;
    await changeDuringStream(creds, [httpSender(a.base), httpSender(b.base)], u0, u3, () => store.tokens.revokeToken(hashOf(u0.access_token), Date.now()));
  }, 60_000);

  it("stops an expired token on both instances' next batch", async () => {
    const [, u1, , u3] = creds.users;
    await changeDuringStream(creds, [httpSender(a.base), httpSender(b.base)], u1, u3, () => store.tokens.expireToken(hashOf(u1.access_token), Date.now()));
  }, 60_000);
});
