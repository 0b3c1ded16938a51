import { describe, expect, it } from "vitest";
import { isoTime } from "../../src/core/iso-time.js";

const DAY = 86_400_000;
const LAST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** A deterministic sequence (xorshift32), so a failure names the same instants every run. */
function* numbers(seed: number, count: number): Generator<number> {
  let x = seed;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    yield (x >>> 0) / 2 ** 32;
  }
}

/** Instants where isoTime and toISOString disagree, as `ms: ours ≠ theirs` (checked once per test: expect per instant is slow). */
let mismatches: string[] = [];
const same = (ms: number) => {
  const ours = isoTime(ms);
  const theirs = new Date(ms).toISOString();
  if (ours !== theirs) mismatches.push(`${ms}: ${ours} ≠ ${theirs}`);
};
const noMismatches = () => {
  expect(mismatches.slice(0, 10)).toEqual([]);
  mismatches = [];
};

describe("isoTime", () => {
  it("writes what toISOString writes at the edges of days, months, years and milliseconds", () => {
    const instants = [
      0,
      1,
      999,
      1000,
      59_999,
      60_000,
      3_599_999,
      3_600_000,
      DAY - 1,
      DAY,
      Date.UTC(1972, 1, 29, 12), // leap year
      Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      Date.UTC(2000, 0, 1),
      Date.UTC(2000, 1, 29, 23, 59, 59, 999), // leap: divisible by 400
      Date.UTC(2000, 2, 1),
      Date.UTC(2023, 1, 28, 23, 59, 59, 999),
      Date.UTC(2023, 2, 1),
      Date.UTC(2024, 1, 29), // leap year
      Date.UTC(2024, 11, 31, 23, 59, 59, 999),
      Date.UTC(2100, 1, 28, 23, 59, 59, 999), // not leap: divisible by 100
      Date.UTC(2100, 2, 1),
      Date.UTC(2400, 1, 29),
      LAST,
    ];
    for (const ms of instants) {
      same(ms);
      if (ms > 0) same(ms - 1);
      if (ms < LAST) same(ms + 1);
    }
    noMismatches();
  });

  it("writes what toISOString writes for every day boundary from 1970 to 2200 and back-to-back days", () => {
    let last = "";
    for (let ms = 0; ms < Date.UTC(2200, 0, 1); ms += DAY) {
      same(ms);
      same(ms + DAY - 1);
      // Interleaving two days checks that a day already formatted is not reused for another.
      const a = isoTime(ms + 7);
      if (a === last) mismatches.push(`${ms + 7}: same text as the day before`);
      last = a;
    }
    expect(last).toBe("2199-12-31T00:00:00.007Z");
    noMismatches();
  });

  it("writes what toISOString writes for 200,000 pseudo-random instants up to 9999-12-31", () => {
    for (const r of numbers(0x9e3779b9, 200_000)) same(Math.floor(r * LAST));
    for (const r of numbers(12345, 50_000)) same(Date.UTC(2026, 0, 1) + Math.floor(r * 10 * 365 * DAY));
    noMismatches();
  });

  it("leaves instants outside 1970–9999 and non-whole numbers to toISOString, errors included", () => {
    for (const ms of [-1, -DAY, -62_198_755_200_000, LAST + 1, 8.64e15, 1.5, 1_700_000_000_000.25]) same(ms);
    noMismatches();
    for (const bad of [NaN, Infinity, -Infinity, 8.64e15 + 1]) {
      expect(() => isoTime(bad)).toThrow(RangeError);
      expect(() => new Date(bad).toISOString()).toThrow(RangeError);
    }
  });
});
