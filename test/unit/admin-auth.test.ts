/**
 * The admin key: ADMIN_API_KEY's validation at start, and verifyAdminKey's answers (off, right,
 * wrong, missing, another scheme).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";
import { sha256HexSync } from "../../src/core/sha256.js";
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

describe("verifyAdminKey", () => {
  const on = { adminKeyHash: sha256HexSync(KEY) };
  it("is null when no key is configured, whatever is sent", () => {
    expect(verifyAdminKey({ adminKeyHash: null }, `Bearer ${KEY}`)).toBeNull();
    expect(verifyAdminKey({ adminKeyHash: null }, undefined)).toBeNull();
  });
  it("is true only for Bearer with the exact key", () => {
    expect(verifyAdminKey(on, `Bearer ${KEY}`)).toBe(true);
    expect(verifyAdminKey(on, `bearer ${KEY}`)).toBe(true);
    for (const h of [undefined, null, "", "Bearer", `Bearer ${KEY}x`, `Bearer ${KEY.slice(1)}`, KEY, `Basic ${btoa(`a:${KEY}`)}`, `Bearer ${sha256HexSync(KEY)}`]) {
      expect(verifyAdminKey(on, h), String(h)).toBe(false);
    }
  });
  it("names the actor by the key's fingerprint, never the key", () => {
    expect(adminActorOf(on)).toBe(`key:${on.adminKeyHash.slice(0, 12)}`);
    expect(adminActorOf(on)).not.toContain(KEY);
  });
});
