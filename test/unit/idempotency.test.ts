/**
 * The Idempotency service's decisions as they stand: fingerprints, begin (claim, replay, in use,
 * reused), finish and abandon. The store is the real SqlStore over better-sqlite3 ":memory:";
 * the clock is a plain object the test moves.
 */
import { describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Idempotency } from "../../src/core/idempotency.js";
import type { Logger } from "../../src/ports/runtime.js";

const logger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => logger };

function setup() {
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const clock = { t: 1_000_000, now() { return this.t; } };
  const idem = new Idempotency(store.idempotency, nodeHasher, clock, logger, { retentionMs: 60_000, leaseMs: 5_000, maxHoldMs: 60_000 });
  return { idem, clock, store };
}

async function claim(idem: Idempotency, scope: string, key: string, fp: string) {
  const c = await idem.begin(scope, key, fp);
  if (c.kind !== "claimed") throw new Error(`expected a claim, got ${c.kind}`);
  return c;
}

describe("Idempotency.fingerprint", () => {
  it("ignores key order at every level but not values, array order or which part is which", async () => {
    const { idem } = setup();
    const a = await idem.fingerprint("/payment/create", "tok", { amount: "1.00", to: { id: "w2", note: null }, tags: [1, 2] });
    const b = await idem.fingerprint("/payment/create", "tok", { tags: [1, 2], to: { note: null, id: "w2" }, amount: "1.00" });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await idem.fingerprint("/payment/create", "tok", { amount: "1.01", to: { id: "w2", note: null }, tags: [1, 2] })).not.toBe(a);
    expect(await idem.fingerprint("/payment/create", "tok", { amount: "1.00", to: { id: "w2", note: null }, tags: [2, 1] })).not.toBe(a);
    expect(await idem.fingerprint("/payment/create", "other-tok", { amount: "1.00", to: { id: "w2", note: null }, tags: [1, 2] })).not.toBe(a);
    expect(await idem.fingerprint("/payment/reverse", "tok", { amount: "1.00", to: { id: "w2", note: null }, tags: [1, 2] })).not.toBe(a);
  });
});

describe("Idempotency.begin", () => {
  it("claims a new key, refuses it while in flight, then replays the stored response", async () => {
    const { idem } = setup();
    const c = await claim(idem, "client:1", "k", "fp1");
    await expect(idem.begin("client:1", "k", "fp1")).rejects.toMatchObject({ code: "idempotency_key_in_use", status: 409 });
    await c.finish({ status: 201, body: '{"ok":true}' });
    for (let i = 0; i < 2; i++) {
      expect(await idem.begin("client:1", "k", "fp1")).toEqual({ kind: "replay", response: { status: 201, body: '{"ok":true}' } });
    }
  });

  it("answers reused for another request under the key, whether the first is running or done", async () => {
    const { idem } = setup();
    const c = await claim(idem, "s", "k", "fp1");
    await expect(idem.begin("s", "k", "fp2")).rejects.toMatchObject({ code: "idempotency_key_reused", status: 422 });
    await c.finish({ status: 200, body: "{}" });
    await expect(idem.begin("s", "k", "fp2")).rejects.toMatchObject({ code: "idempotency_key_reused" });
  });

  it("keeps scopes apart: the same key in another scope is a new claim", async () => {
    const { idem } = setup();
    const c = await claim(idem, "client:1", "k", "fp1");
    await c.finish({ status: 200, body: "one" });
    const other = await claim(idem, "client:2", "k", "fp2");
    await other.finish({ status: 200, body: "two" });
    expect(await idem.begin("client:1", "k", "fp1")).toMatchObject({ response: { body: "one" } });
    expect(await idem.begin("client:2", "k", "fp2")).toMatchObject({ response: { body: "two" } });
  });

  it("lets a new request take a claim whose owner never finished, once the in-flight time has passed", async () => {
    const { idem, clock } = setup();
    await claim(idem, "s", "k", "fp1");
    clock.t += 4_999;
    await expect(idem.begin("s", "k", "fp1")).rejects.toMatchObject({ code: "idempotency_key_in_use" });
    clock.t += 1;
    await claim(idem, "s", "k", "fp1");
  });
});

describe("IdempotencyClaim", () => {
  it("abandon releases the key, so the next request runs instead of replaying", async () => {
    const { idem } = setup();
    const c = await claim(idem, "s", "k", "fp1");
    await c.abandon();
    // Released, not stored: even another request may now use the key.
    const next = await claim(idem, "s", "k", "fp2");
    await next.finish({ status: 200, body: "second" });
    expect(await idem.begin("s", "k", "fp2")).toMatchObject({ kind: "replay", response: { body: "second" } });
  });

  it("ignores finish after abandon, and abandon or a second finish after finish", async () => {
    const { idem } = setup();
    const abandoned = await claim(idem, "s", "a", "fp");
    await abandoned.abandon();
    await abandoned.finish({ status: 200, body: "too late" });
    await claim(idem, "s", "a", "fp");

    const finished = await claim(idem, "s", "f", "fp");
    await finished.finish({ status: 200, body: "first" });
    await finished.finish({ status: 500, body: "second" });
    await finished.abandon();
    expect(await idem.begin("s", "f", "fp")).toEqual({ kind: "replay", response: { status: 200, body: "first" } });
  });

  it("keeps a stored response for the retention time after it finished", async () => {
    const { idem, clock } = setup();
    const c = await claim(idem, "s", "k", "fp");
    clock.t += 3_000;
    await c.finish({ status: 200, body: "kept" });
    clock.t += 59_999;
    expect(await idem.begin("s", "k", "fp")).toMatchObject({ kind: "replay" });
    clock.t += 1;
    await claim(idem, "s", "k", "fp");
  });
});

describe("Idempotency.validateKey", () => {
  it("accepts 1 to 255 visible ASCII characters and refuses anything else", () => {
    expect(Idempotency.validateKey("!")).toBe("!");
    expect(Idempotency.validateKey("~".repeat(255))).toHaveLength(255);
    for (const bad of ["", " ", "a b", "k".repeat(256), "é", "tab\t", "\x7f"]) {
      expect(() => Idempotency.validateKey(bad)).toThrow(expect.objectContaining({ code: "invalid_idempotency_key" }));
    }
  });
});
