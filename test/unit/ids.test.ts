import { describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const decodeTime = (s: string) => [...s].reduce((n, c) => n * 32 + CROCKFORD.indexOf(c), 0);

describe("newId", () => {
  it("is the prefix, 10 characters of time and 16 random Crockford characters", () => {
    const now = Date.UTC(2026, 11, 7, 8, 30, 0, 123);
    const id = newId("pay", now);
    expect(id).toMatch(/^pay_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(decodeTime(id.slice(4, 14))).toBe(now);
    expect(decodeTime(newId("x", 0).slice(2, 12))).toBe(0);
  });

  it("sorts by time across instants", () => {
    const ids = [3, 1, 2].map((k) => newId("po", 1_700_000_000_000 + k * 1000));
    expect([...ids].sort()).toEqual([ids[1], ids[2], ids[0]]);
  });

  it("gives 20,000 ids at one instant 20,000 different random parts (across many refills of the random pool)", () => {
    const now = Date.now();
    const rand = new Set<string>();
    for (let i = 0; i < 20_000; i++) rand.add(newId("req", now).slice(14));
    expect(rand.size).toBe(20_000);
    // Every character of the alphabet turns up in every position: the bytes are random, not reused.
    const seen = Array.from({ length: 16 }, () => new Set<string>());
    for (const r of rand) for (let p = 0; p < 16; p++) seen[p].add(r[p]);
    for (const s of seen) expect(s.size).toBe(32);
  });
});
