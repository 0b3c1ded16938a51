/**
 * The engine's one-pass admission: every call charged to its token's limit exactly once, the
 * principal checked per call, and a read snapshot that fails to begin or to end costs no call
 * and charges none twice. Real SQLite (:memory:), real limiter, real registry.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { memoryRateLimiter } from "../../src/adapters/rate-limit/flexible.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Authenticator } from "../../src/core/auth.js";
import { BatchEngine, type CallRequest } from "../../src/core/engine.js";
import { defineHandler } from "../../src/core/call-contract.js";
import { GatewayError } from "../../src/core/errors.js";
import { HandlerRegistry } from "../../src/handlers/registry.js";
import { SandboxRail } from "../../src/adapters/rails/sandbox.js";
import type { TokenStore } from "../../src/ports/credentials.js";
import type { Logger } from "../../src/ports/runtime.js";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** Whether the engine reads the credentials version synchronously (SQL) or only through a promise (as on Redis). */
type VersionRead = "sync" | "async";
let versionRead: VersionRead = "sync";

async function setup(readSnapshot?: <T>(fn: () => T) => T) {
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const { credentialsVersionSync: _sync, ...asyncOnly } = store.tokens;
  const tokens: TokenStore = versionRead === "sync" ? store.tokens : asyncOnly;
  /** What happened inside the engine's read snapshots: version reads and handler starts. */
  let inSnapshot = false;
  const events: string[] = [];
  const snapshot = readSnapshot ?? ((fn) => store.readSnapshot(fn));
  const clock = { now: () => Date.now() };
  await store.ledger.createUser({ userId: "usr_a", email: "a@example.com", firstName: "A", lastName: "A", createdAt: 1 });
  await store.tokens.createToken({ tokenHash: String(nodeHasher.sha256Hex("tok_a")), userId: "usr_a", scopes: ["user:read"], expiresAt: null, revoked: false, createdAt: 1 });
  const registry = new HandlerRegistry().register(
    defineHandler({
      name: "/test/me",
      summary: "the principal's user id",
      auth: "user",
      scope: "user:read",
      readOnly: true,
      schema: z.strictObject({ n: z.number() }),
      async run(p, ctx) {
        return { user: ctx.principal!.userId, n: p.n };
      },
    }),
  ).register(
    defineHandler({
      name: "/test/me-sync",
      summary: "the principal's user, read synchronously when the store can: records where it ran",
      auth: "user",
      scope: "user:read",
      readOnly: true,
      schema: z.strictObject({ n: z.number(), fail: z.enum(["gateway", "bug"]).optional() }),
      async run(p, ctx) {
        events.push("lookup ran as a promise");
        const user = await ctx.services.ledger.getUser(ctx.principal!.userId);
        return { user: user!.email, n: p.n };
      },
      runSync(p, ctx) {
        events.push(inSnapshot ? "lookup ran inline in a snapshot" : "lookup ran inline outside");
        if (p.fail === "gateway") throw new GatewayError("not_found", "Nothing here.");
        if (p.fail === "bug") throw new Error("a bug in a handler");
        return { user: ctx.reads.getUser(ctx.principal!.userId)!.email, n: p.n };
      },
    }),
  ).register(
    defineHandler({
      name: "/test/write",
      summary: "a handler that writes: records whether it started inside a read snapshot",
      auth: "user",
      scope: "user:read",
      schema: z.strictObject({}),
      async run() {
        events.push(inSnapshot ? "writer started in a snapshot" : "writer started outside");
        return {};
      },
    }),
  );
  const limiter = memoryRateLimiter("token", 1000, 60);
  const engine = new BatchEngine({
    handlers: registry,
    auth: new Authenticator(
      store.clients,
      {
        ...tokens,
        ...(tokens.credentialsVersionSync
          ? { credentialsVersionSync: () => (events.push(inSnapshot ? "version read in a snapshot" : "version read outside"), store.tokens.credentialsVersionSync!()) }
          : {}),
      },
      nodeHasher,
      clock,
    ),
    tokenLimiter: limiter,
    services: { ledger: store.ledger, rails: new SandboxRail(), clock, fetch },
    inflight: { concurrency: 100 },
    readSnapshot: <T>(fn: () => T): T => {
      const outer = inSnapshot;
      inSnapshot = true;
      try {
        return snapshot(fn);
      } finally {
        inSnapshot = outer;
      }
    },
    options: { batchConcurrency: 4, callTimeoutMs: 5000, batchDeadlineMs: 10_000 },
  });
  const remaining = () => limiter.consumeSync!(String(nodeHasher.sha256Hex("tok_a")), 0).remaining;
  return { engine, store, remaining, events };
}

const calls = (k: number, token = "tok_a"): CallRequest[] => Array.from({ length: k }, (_, n) => ({ call: "/test/me", authorization: token, reference_id: `r${n}`, parameters: { n } }));
const run = (engine: BatchEngine, c: CallRequest[]) => engine.runBatch(c, { requestId: "req_t", logger: silent });

describe.each(["sync", "async"] as const)("batch admission (credentials version read %s)", (mode) => {
  beforeEach(() => {
    versionRead = mode;
  });

  it("charges each call to its token once, in order, with its own principal and parameters", async () => {
    const { engine, remaining } = await setup();
    const before = remaining();
    const out = await run(engine, [...calls(10), { call: "/test/me", authorization: "tok_nobody", reference_id: "x", parameters: { n: 1 } }, { call: "/test/me", authorization: "tok_a", reference_id: "y", parameters: { n: "1" } }]);
    expect(out.slice(0, 10).map((r) => r.response)).toEqual(Array.from({ length: 10 }, (_, n) => ({ user: "usr_a", n })));
    expect(out[10]).toMatchObject({ reference_id: "x", status: 401, response: { error: "invalid_token" } });
    expect(out[11]).toMatchObject({ reference_id: "y", status: 400, response: { error: "invalid_parameters" } });
    // Ten good calls and the one with bad parameters were charged; the unknown token has its own key.
    expect(before - remaining()).toBe(11);
  });

  it("runs every call, each charged once, when the read snapshot cannot begin", async () => {
    const { engine, remaining } = await setup(() => {
      throw new Error("SQLITE_BUSY");
    });
    const before = remaining();
    const out = await run(engine, calls(9));
    expect(out.map((r) => r.status)).toEqual(Array(9).fill(200));
    expect(before - remaining()).toBe(9);
  });

  it("runs every call, each charged once, when the read snapshot fails to end", async () => {
    const { engine, remaining } = await setup((fn) => {
      fn();
      throw new Error("COMMIT failed");
    });
    const before = remaining();
    const out = await run(engine, calls(9));
    expect(out.map((r) => r.response)).toEqual(Array.from({ length: 9 }, (_, n) => ({ user: "usr_a", n })));
    expect(before - remaining()).toBe(9);
  });

  it("starts a writing handler outside any read snapshot; a synchronous version read happens inside the admission's", async () => {
    const { engine, events } = await setup();
    // A first batch fills the principal cache, so the next one is admitted synchronously.
    await run(engine, calls(1));
    events.length = 0;
    const out = await run(engine, [...calls(3), { call: "/test/write", authorization: "tok_a", reference_id: "w", parameters: {} }, ...calls(2)]);
    expect(out.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(events).toContain("writer started outside");
    expect(events).not.toContain("writer started in a snapshot");
    expect(events.filter((e) => e.startsWith("version read"))).toEqual(mode === "sync" ? ["version read in a snapshot"] : []);
  });

  it("runs read-only calls with a synchronous form inline, inside a read snapshot, in order; writers start outside it", async () => {
    const { engine, events } = await setup();
    await run(engine, calls(1));
    events.length = 0;
    const sync = (n: number, extra: Record<string, unknown> = {}): CallRequest => ({ call: "/test/me-sync", authorization: "tok_a", reference_id: `s${n}`, parameters: { n, ...extra } });
    // More calls than the batch's limit (4): inline calls free their place at once.
    const batch = [...Array.from({ length: 9 }, (_, n) => sync(n)), { call: "/test/write", authorization: "tok_a", reference_id: "w", parameters: {} }, sync(9)];
    const out = await run(engine, batch);
    expect(out.map((r) => r.reference_id)).toEqual([...Array.from({ length: 9 }, (_, n) => `s${n}`), "w", "s9"]);
    expect(out.filter((r) => r.call === "/test/me-sync").map((r) => r.response)).toEqual(Array.from({ length: 10 }, (_, n) => ({ user: "a@example.com", n })));
    expect(events.filter((e) => e.startsWith("lookup"))).toEqual(Array(10).fill("lookup ran inline in a snapshot"));
    expect(events).toContain("writer started outside");
    expect(events).not.toContain("writer started in a snapshot");
    if (mode === "sync") expect(events.filter((e) => e.startsWith("version read"))).toEqual(["version read in a snapshot"]);
  });

  it("a synchronous form that throws is that call's result only", async () => {
    const { engine } = await setup();
    const out = await run(engine, [
      { call: "/test/me-sync", authorization: "tok_a", reference_id: "a", parameters: { n: 1, fail: "gateway" } },
      { call: "/test/me-sync", authorization: "tok_a", reference_id: "b", parameters: { n: 2 } },
      { call: "/test/me-sync", authorization: "tok_a", reference_id: "c", parameters: { n: 3, fail: "bug" } },
      { call: "/test/me-sync", authorization: "tok_a", reference_id: "d", parameters: { n: 4 } },
    ]);
    expect(out.map((r) => [r.reference_id, r.status])).toEqual([["a", 404], ["b", 200], ["c", 500], ["d", 200]]);
    expect(out[0].response).toMatchObject({ error: "not_found", error_description: "Nothing here." });
    expect(out[2].response).toMatchObject({ error: "processing_error" });
    expect(JSON.stringify(out[2])).not.toContain("a bug in a handler");
  });

  it("runs synchronous lookups, each charged once, when the read snapshot cannot begin", async () => {
    const { engine, remaining, events } = await setup(() => {
      throw new Error("SQLITE_BUSY");
    });
    const before = remaining();
    const out = await run(engine, Array.from({ length: 9 }, (_, n) => ({ call: "/test/me-sync", authorization: "tok_a", parameters: { n } })));
    expect(out.map((r) => r.response)).toEqual(Array.from({ length: 9 }, (_, n) => ({ user: "a@example.com", n })));
    expect(before - remaining()).toBe(9);
    expect(events.filter((e) => e.startsWith("lookup"))).toEqual(Array(9).fill("lookup ran inline outside"));
  });

  it("stops a token revoked between two batches at the next batch", async () => {
    const { engine, store } = await setup();
    expect((await run(engine, calls(3))).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await store.tokens.revokeToken(String(nodeHasher.sha256Hex("tok_a")), Date.now())).toBe(true);
    const out = await run(engine, calls(3));
    expect(out.map((r) => r.response)).toEqual(Array(3).fill(expect.objectContaining({ error: "invalid_token" })));
  });
});
