/**
 * Idempotency claims as leases, on fake timers and a fake clock moved together, over a real
 * SqlStore in memory: the owner renews every lease/3 while it works, stops when it finishes or
 * abandons, and a key whose owner stopped renewing frees one lease later.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Idempotency, type IdempotencyClaim } from "../../src/core/idempotency.js";
import type { Logger } from "../../src/ports/runtime.js";

const LEASE = 9_000;

function setup(maxHoldMs = 600_000) {
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (_f, m) => void warnings.push(String(m)), error() {}, child: () => logger };
  const clock = { now: () => Date.now() };
  const renewals = vi.spyOn(store.idempotency, "renew");
  const make = () => new Idempotency(store.idempotency, nodeHasher, clock, logger, { retentionMs: 3_600_000, leaseMs: LEASE, maxHoldMs });
  return { store, idem: make(), other: make(), renewals, warnings };
}

/** Moves fake time (and Date.now) forward, letting the renewals' promises settle. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe("idempotency leases", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_800_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the owner renews every lease/3 while it works, so nobody else gets the key however long it takes", async () => {
    const { idem, other, renewals } = setup();
    const claim = (await idem.begin("s", "k", "fp")) as IdempotencyClaim;
    expect(claim.kind).toBe("claimed");
    await advance(LEASE / 3 - 1);
    expect(renewals).not.toHaveBeenCalled();
    await advance(1);
    expect(renewals).toHaveBeenCalledTimes(1);
    await advance(10 * LEASE);
    expect(renewals).toHaveBeenCalledTimes(31);
    await expect(other.begin("s", "k", "fp")).rejects.toMatchObject({ code: "idempotency_key_in_use" });
    await claim.finish({ status: 200, body: "done" });
    expect(await other.begin("s", "k", "fp")).toEqual({ kind: "replay", response: { status: 200, body: "done" } });
  });

  it("stops renewing once finished or abandoned", async () => {
    const { idem, renewals } = setup();
    const a = (await idem.begin("s", "a", "fp")) as IdempotencyClaim;
    const b = (await idem.begin("s", "b", "fp")) as IdempotencyClaim;
    await advance(LEASE / 3);
    expect(renewals).toHaveBeenCalledTimes(2);
    await a.finish({ status: 200, body: "{}" });
    await b.abandon();
    renewals.mockClear();
    await advance(5 * LEASE);
    expect(renewals).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a key whose owner stopped renewing (crashed) is free one lease after the last renewal, not before", async () => {
    const { store, other } = setup();
    // The crashed owner: a claim taken directly, never renewed.
    const t0 = Date.now();
    await store.idempotency.claim({ scope: "s", key: "k", fingerprint: "fp", owner: "dead", now: t0, leaseMs: LEASE, retentionMs: 3_600_000 });
    await advance(LEASE - 1);
    await expect(other.begin("s", "k", "fp")).rejects.toMatchObject({ code: "idempotency_key_in_use" });
    await advance(1);
    const taken = await other.begin("s", "k", "fp");
    expect(taken.kind).toBe("claimed");
    await (taken as IdempotencyClaim).abandon();
  });

  it("an owner that lost its claim stops renewing and cannot store its response", async () => {
    const { store, idem, other, warnings } = setup();
    const claim = (await idem.begin("s", "k", "fp")) as IdempotencyClaim;
    // Renewals fail (the store is unreachable) long enough for the lease to lapse and another instance to take the key.
    const renew = vi.spyOn(store.idempotency, "renew").mockRejectedValue(new Error("store down"));
    await advance(LEASE);
    const taken = (await other.begin("s", "k", "fp")) as IdempotencyClaim;
    expect(taken.kind).toBe("claimed");
    renew.mockRestore();
    const spy = vi.spyOn(store.idempotency, "renew");
    await advance(LEASE / 3);
    expect(warnings).toContain("idempotency claim lost; no longer renewed");
    await claim.finish({ status: 500, body: "stale" });
    expect(warnings).toContain("idempotency claim lost before completion; response not stored");
    await taken.finish({ status: 200, body: "fresh" });
    expect(await other.begin("s", "k", "fp")).toEqual({ kind: "replay", response: { status: 200, body: "fresh" } });
    expect(spy).toHaveBeenCalled();
  });

  it("stops renewing after maxHoldMs, so a stuck owner cannot hold the key forever", async () => {
    const { idem, other, warnings } = setup(30_000);
    await idem.begin("s", "k", "fp");
    await advance(30_000);
    expect(warnings).toContain("idempotency claim held too long; no longer renewed");
    await advance(LEASE);
    expect((await other.begin("s", "k", "fp")).kind).toBe("claimed");
  });
});
