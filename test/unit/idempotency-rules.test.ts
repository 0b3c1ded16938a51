/**
 * The idempotency claim decision and claim ownership: pure functions both stores apply.
 */
import { describe, expect, it } from "vitest";
import { claimedRecord, decideClaim, holdsClaim } from "../../src/core/idempotency-rules.js";
import type { IdempotencyRecord } from "../../src/ports/idempotency.js";

const claim = { scope: "s", key: "k", fingerprint: "fp", owner: "o1" };
const inFlight: IdempotencyRecord = { state: "in_flight", fingerprint: "fp", owner: "o1", response: null, lockedUntil: 1_000, expiresAt: 10_000 };
const response = { status: 200, body: "{}" };
const completed: IdempotencyRecord = { ...inFlight, state: "completed", response };

describe("decideClaim", () => {
  it("takes an absent key", () => {
    expect(decideClaim(null, 0)).toEqual({ kind: "take" });
  });
  it("answers in_flight while the lease is live, and takes it from the moment it lapses", () => {
    expect(decideClaim(inFlight, 999)).toEqual({ kind: "in_flight", fingerprint: "fp" });
    expect(decideClaim(inFlight, 1_000)).toEqual({ kind: "take" });
  });
  it("replays a completed record until its retention ends, whatever its old lease said", () => {
    expect(decideClaim(completed, 5_000)).toEqual({ kind: "completed", fingerprint: "fp", response });
    expect(decideClaim(completed, 9_999)).toEqual({ kind: "completed", fingerprint: "fp", response });
    expect(decideClaim(completed, 10_000)).toEqual({ kind: "take" });
  });
  it("takes a record past retention even if its lease says otherwise", () => {
    expect(decideClaim({ ...inFlight, lockedUntil: 50_000 }, 10_000)).toEqual({ kind: "take" });
  });
});

describe("holdsClaim", () => {
  it("holds only the in-flight record with the same fingerprint and owner", () => {
    expect(holdsClaim(inFlight, claim)).toBe(true);
    expect(holdsClaim(inFlight, { ...claim, owner: "o2" })).toBe(false);
    expect(holdsClaim(inFlight, { ...claim, fingerprint: "other" })).toBe(false);
    expect(holdsClaim(completed, claim)).toBe(false);
    expect(holdsClaim(null, claim)).toBe(false);
  });
  it("still holds a lapsed lease nobody took (the owner may renew it late)", () => {
    expect(holdsClaim({ ...inFlight, lockedUntil: 0 }, claim)).toBe(true);
  });
});

describe("claimedRecord", () => {
  it("is an in-flight record leased from now and kept for the retention", () => {
    expect(claimedRecord(claim, 100, 10, 1_000)).toEqual({ state: "in_flight", fingerprint: "fp", owner: "o1", response: null, lockedUntil: 110, expiresAt: 1_100 });
  });
});
