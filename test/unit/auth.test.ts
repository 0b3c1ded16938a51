/**
 * Authorization header parsing and the Authenticator, over a real SqlStore (better-sqlite3,
 * ":memory:") and the real node:crypto hasher; only the clock is a plain object the test moves.
 */
import { describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Authenticator, parseBasicAuth, parseBearer } from "../../src/core/auth.js";

const basic = (text: string, scheme = "Basic") => `${scheme} ${btoa(text)}`;

describe("parseBasicAuth", () => {
  it("splits id and secret at the first colon, so a secret may contain colons", () => {
    expect(parseBasicAuth(basic("17:s3cret"))).toEqual({ clientId: "17", secret: "s3cret" });
    expect(parseBasicAuth(basic("17:a:b::c"))).toEqual({ clientId: "17", secret: "a:b::c" });
    expect(parseBasicAuth(basic("17:"))).toEqual({ clientId: "17", secret: "" });
    expect(parseBasicAuth(basic(":only-secret"))).toEqual({ clientId: "", secret: "only-secret" });
  });

  it("reads the scheme case-insensitively and tolerates whitespace around the credentials", () => {
    expect(parseBasicAuth(basic("1:x", "basic"))).toEqual({ clientId: "1", secret: "x" });
    expect(parseBasicAuth(basic("1:x", "BASIC"))).toEqual({ clientId: "1", secret: "x" });
    expect(parseBasicAuth(`Basic   ${btoa("1:x")}  `)).toEqual({ clientId: "1", secret: "x" });
  });

  it("answers null when there is no Basic header, so other credentials are looked for", () => {
    expect(parseBasicAuth(undefined)).toBeNull();
    expect(parseBasicAuth("")).toBeNull();
    expect(parseBasicAuth(`Bearer ${btoa("1:x")}`)).toBeNull();
    expect(parseBasicAuth(`Basic${btoa("1:x")}`)).toBeNull();
  });

  it("turns a malformed Basic header into empty credentials (which no client matches), never a throw", () => {
    const empty = { clientId: "", secret: "" };
    expect(parseBasicAuth(basic("no-colon-here"))).toEqual(empty);
    expect(parseBasicAuth("Basic !!!not base64!!!")).toEqual(empty);
    expect(parseBasicAuth("Basic ")).toEqual(empty);
    expect(parseBasicAuth("Basic a")).toEqual(empty);
  });
});

describe("parseBearer", () => {
  it("takes the single token after a case-insensitive Bearer scheme", () => {
    expect(parseBearer("Bearer at_abc123")).toBe("at_abc123");
    expect(parseBearer("bearer at_abc123")).toBe("at_abc123");
    expect(parseBearer("BEARER   at_abc123   ")).toBe("at_abc123");
  });

  it("answers null for no token, two tokens or another scheme", () => {
    expect(parseBearer(undefined)).toBeNull();
    expect(parseBearer("")).toBeNull();
    expect(parseBearer("Bearer")).toBeNull();
    expect(parseBearer("Bearer ")).toBeNull();
    expect(parseBearer("Bearer a b")).toBeNull();
    expect(parseBearer("Basic at_abc123")).toBeNull();
    expect(parseBearer("Bearerat_abc123")).toBeNull();
  });
});

async function setup() {
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const clock = { t: 1_700_000_000_000, now() { return this.t; } };
  let hashes = 0;
  const hasher = {
    sha256Hex: (text: string) => {
      hashes++;
      return nodeHasher.sha256Hex(text);
    },
  };
  const auth = new Authenticator(store.clients, store.tokens, hasher, clock);
  await store.clients.createClient({ clientId: 7, name: "app", secretHash: await nodeHasher.sha256Hex("cs_right:with:colons"), createdAt: 0 });
  await store.ledger.createUser({ userId: "u1", email: "u1@example.test", firstName: "U", lastName: "One", createdAt: 0 });
  const token = async (name: string, over: { scopes?: string[]; expiresAt?: number | null; revoked?: boolean } = {}) => {
    const tokenHash = await nodeHasher.sha256Hex(name);
    await store.tokens.createToken({ tokenHash, userId: "u1", scopes: over.scopes ?? ["user:read"], expiresAt: over.expiresAt ?? null, revoked: over.revoked ?? false, createdAt: 0 });
    return tokenHash;
  };
  return { auth, clock, token, hashCount: () => hashes };
}

describe("Authenticator.verifyClient", () => {
  it("returns the client record for the right secret", async () => {
    const { auth } = await setup();
    await expect(auth.verifyClient(7, "cs_right:with:colons")).resolves.toMatchObject({ clientId: 7, name: "app" });
  });

  it("answers invalid_client alike for a wrong secret and an unknown client, hashing the secret either way", async () => {
    const { auth, hashCount } = await setup();
    const before = hashCount();
    await expect(auth.verifyClient(7, "cs_wrong")).rejects.toMatchObject({ code: "invalid_client", status: 401 });
    expect(hashCount()).toBe(before + 1);
    await expect(auth.verifyClient(8, "cs_right:with:colons")).rejects.toMatchObject({ code: "invalid_client", status: 401 });
    expect(hashCount()).toBe(before + 2);
    await expect(auth.verifyClient(7, "")).rejects.toMatchObject({ code: "invalid_client" });
    // The stored hash itself is not a password.
    const stored = await nodeHasher.sha256Hex("cs_right:with:colons");
    await expect(auth.verifyClient(7, stored)).rejects.toMatchObject({ code: "invalid_client" });
  });
});

describe("Authenticator.principalFor", () => {
  it("resolves a live token to its user and scopes", async () => {
    const { auth, token, clock } = await setup();
    const h = await token("at_live", { scopes: ["user:read", "payments:write"], expiresAt: clock.t + 1 });
    const p = await auth.principalFor(h);
    expect(p.userId).toBe("u1");
    expect([...p.scopes].sort()).toEqual(["payments:write", "user:read"]);
    expect(p.scopes.has("payouts:write")).toBe(false);
    const forever = await token("at_forever", { expiresAt: null });
    await expect(auth.principalFor(forever)).resolves.toMatchObject({ userId: "u1" });
  });

  it("refuses a token from the instant it expires", async () => {
    const { auth, token, clock } = await setup();
    const h = await token("at_expiring", { expiresAt: clock.t + 1000 });
    clock.t += 999;
    await expect(auth.principalFor(h)).resolves.toMatchObject({ userId: "u1" });
    clock.t += 1;
    await expect(auth.principalFor(h)).rejects.toMatchObject({ code: "invalid_token", status: 401 });
  });

  it("refuses revoked and unknown tokens with invalid_token", async () => {
    const { auth, token } = await setup();
    const revoked = await token("at_revoked", { revoked: true });
    await expect(auth.principalFor(revoked)).rejects.toMatchObject({ code: "invalid_token" });
    await expect(auth.principalFor(await nodeHasher.sha256Hex("at_never_issued"))).rejects.toMatchObject({ code: "invalid_token" });
    // Looked up by hash only: the raw token is not a key.
    await token("at_raw");
    await expect(auth.principalFor("at_raw")).rejects.toMatchObject({ code: "invalid_token" });
  });
});
