import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256HexSync } from "../../src/core/sha256.js";

describe("sha256HexSync", () => {
  it("agrees with node:crypto on the empty string, block boundaries, multi-byte UTF-8 and long input", () => {
    const inputs = ["", "abc", "a".repeat(55), "a".repeat(56), "a".repeat(63), "a".repeat(64), "a".repeat(119), "ünïcødé ✓ 🚀", "x".repeat(100_000)];
    for (const s of inputs) expect(sha256HexSync(s), JSON.stringify(s.slice(0, 10))).toBe(createHash("sha256").update(s, "utf8").digest("hex"));
  });
});
