/**
 * The admin key: ADMIN_API_KEY's validation at start, and verifyAdminKey's answers (off, right,
 * wrong, missing, another scheme).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { webCryptoHasher } from "../../src/adapters/workers/hasher.js";
import { adminActorOf, verifyAdminKey } from "../../src/http/admin-auth.js";

const KEY = "unit-admin-key-0123456789abcdef";

describe("ADMIN_API_KEY", () => {
  it("is optional, and a value shorter than 24 characters or with spaces stops the start naming the variable", () => {
    expect(parseConfig({}).ADMIN_API_KEY).toBeUndefined();
    expect(parseConfig({ ADMIN_API_KEY: "" }).ADMIN_API_KEY).toBeUndefined();
    expect(parseConfig({ ADMIN_API_KEY: KEY }).ADMIN_API_KEY).toBe(KEY);
    for (const bad of ["x".repeat(23), `${"x".repeat(24)} y`]) {
      expect(() => parseConfig({ ADMIN_API_KEY: bad })).toThrow(ConfigError);
      expect(() => parseConfig({ ADMIN_API_KEY: bad })).toThrow(/ADMIN_API_KEY/);
    }
  });
});

// Both runtimes' hashers: Node's is synchronous, Web Crypto's (Workers) is asynchronous.
describe.each([
  ["node:crypto", nodeHasher],
  ["Web Crypto", webCryptoHasher],
])("verifyAdminKey with the %s hasher", (_name, hasher) => {
  const auth = { hash: (s: string) => hasher.sha256Hex(s) };
  const on = { auth, adminKeyHash: Promise.resolve(hasher.sha256Hex(KEY)) };
  it("is null when no key is configured, whatever is sent", async () => {
    expect(await verifyAdminKey({ auth, adminKeyHash: null }, `Bearer ${KEY}`)).toBeNull();
    expect(await verifyAdminKey({ auth, adminKeyHash: null }, undefined)).toBeNull();
  });
  it("is true only for Bearer with the exact key", async () => {
    expect(await verifyAdminKey(on, `Bearer ${KEY}`)).toBe(true);
    expect(await verifyAdminKey(on, `bearer ${KEY}`)).toBe(true);
    const keyHash = await on.adminKeyHash;
    for (const h of [undefined, null, "", "Bearer", `Bearer ${KEY}x`, `Bearer ${KEY.slice(1)}`, KEY, `Basic ${btoa(`a:${KEY}`)}`, `Bearer ${keyHash}`]) {
      expect(await verifyAdminKey(on, h), String(h)).toBe(false);
    }
  });
  it("names the actor by the key's fingerprint, never the key", async () => {
    const keyHash = await on.adminKeyHash;
    expect(await adminActorOf(on)).toBe(`key:${keyHash.slice(0, 12)}`);
    expect(await adminActorOf(on)).not.toContain(KEY);
  });
});
