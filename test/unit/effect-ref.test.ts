/**
 * The effect ref: one derivation, stable across versions (a payout named po_<ref> before an
 * upgrade must be found again after it).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { effectRef } from "../../src/core/effect-ref.js";

const sha = (t: string) => createHash("sha256").update(t).digest("hex");

describe("effectRef", () => {
  it("is the hash of scope, key and fingerprint, and of a batch's ref and call index", async () => {
    const h = (t: string) => nodeHasher.sha256Hex(t);
    expect(await effectRef(h, { scope: "client:1", key: "k", fingerprint: "fp" })).toBe(sha("ref\nclient:1\nk\nfp"));
    expect(await effectRef(h, { batchRef: "abc", index: 3 })).toBe(sha("abc:3"));
  });
  it("differs when any part differs", async () => {
    const h = (t: string) => nodeHasher.sha256Hex(t);
    const base = await effectRef(h, { scope: "a", key: "k", fingerprint: "f" });
    expect(await effectRef(h, { scope: "b", key: "k", fingerprint: "f" })).not.toBe(base);
    expect(await effectRef(h, { scope: "a", key: "k2", fingerprint: "f" })).not.toBe(base);
    expect(await effectRef(h, { scope: "a", key: "k", fingerprint: "f2" })).not.toBe(base);
  });
});
