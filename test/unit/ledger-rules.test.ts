/**
 * The ledger's state rules and the record field mapping both stores use.
 */
import { describe, expect, it } from "vitest";
import { canMovePayment, canMovePayout, paymentStatusesBefore, PAYOUT_MOVEMENTS, payoutStatusesBefore } from "../../src/core/ledger-rules.js";
import { CorruptRecordError, payoutRecord, tokenRecord } from "../../src/core/records.js";
import type { Payout } from "../../src/ports/ledger.js";

describe("ledger rules", () => {
  it("payouts: processing → completed | pending | failed; pending → completed | failed | cancelled; the rest is final", () => {
    expect(payoutStatusesBefore("completed")).toEqual(["processing", "pending"]);
    expect(payoutStatusesBefore("pending")).toEqual(["processing"]);
    expect(payoutStatusesBefore("failed")).toEqual(["processing", "pending"]);
    expect(payoutStatusesBefore("cancelled")).toEqual(["pending"]);
    for (const final of ["completed", "failed", "cancelled"] as const) {
      for (const to of ["processing", "pending", "completed", "failed", "cancelled"] as const) expect(canMovePayout(final, to)).toBe(false);
    }
  });
  it("payouts: completion leaves through the rail, failure and cancellation refund the wallet", () => {
    expect(PAYOUT_MOVEMENTS.completed).toEqual({ to: "rail", kind: "payout_settled" });
    expect(PAYOUT_MOVEMENTS.failed).toEqual({ to: "wallet", kind: "payout_refund" });
    expect(PAYOUT_MOVEMENTS.cancelled).toEqual({ to: "wallet", kind: "payout_cancel" });
    expect(PAYOUT_MOVEMENTS.pending).toEqual({ to: "none" });
  });
  it("payments: a completed payment is reversed once", () => {
    expect(paymentStatusesBefore("reversed")).toEqual(["completed"]);
    expect(canMovePayment("reversed", "reversed")).toBe(false);
  });
});

describe("record mapping", () => {
  const payout: Payout = {
    payoutId: "po_1",
    userId: "u",
    walletId: "w",
    amount: 9_007_199_254_740_991,
    currency: "USD",
    rail: "ach",
    destination: { routing_number: "123456789" },
    description: null,
    status: "failed",
    failureCode: "destination_rejected",
    failureKind: "declined",
    providerReference: null,
    createdAt: 1,
    updatedAt: 2,
  };
  it("round-trips through SQL-like fields (numbers, null) and Redis-like fields (strings, absent)", () => {
    const flat = payoutRecord.to(payout);
    expect(payoutRecord.from(flat)).toEqual(payout);
    const asRedis = Object.fromEntries(Object.entries(flat).filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]));
    expect(payoutRecord.from(asRedis)).toEqual(payout);
    const token = { tokenHash: "h", userId: "u", scopes: ["a", "b"], expiresAt: null, revoked: true, createdAt: 3 };
    expect(tokenRecord.from(JSON.parse(JSON.stringify(tokenRecord.to(token))))).toEqual({ ...token, tokenId: "tok_h", revokedAt: null });
  });
  it("refuses a corrupt field instead of returning a wrong value", () => {
    expect(() => payoutRecord.from({ ...payoutRecord.to(payout), amount: "12.5" })).toThrow(CorruptRecordError);
    expect(() => payoutRecord.from({ ...payoutRecord.to(payout), status: "lost" })).toThrow(CorruptRecordError);
    expect(() => payoutRecord.from({ ...payoutRecord.to(payout), failureKind: "maybe" })).toThrow(CorruptRecordError);
  });
});
