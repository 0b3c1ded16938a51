/**
 * The Authenticator's principal cache is exact: used only while the credentials version read at
 * the start of a batch equals the one it was filled under, with expiry checked against the clock
 * on every use. Two connections to one SQLite file stand in for two processes (the cross-process
 * case with real processes is in test/server/revocation-stream.test.ts).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { Authenticator } from "../../src/core/auth.js";
import { GatewayError } from "../../src/core/errors.js";
import type { TokenStore } from "../../src/ports/credentials.js";
import { tempDir } from "../helpers/gateway.js";

const T0 = 1_800_000_000_000;
const stores: SqlStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function setup() {
  const file = join(tempDir("batchgate-cache-"), "db.sqlite");
  const mine = new SqlStore(openBetterSqlite({ filename: file }));
  const other = new SqlStore(openBetterSqlite({ filename: file }));
  stores.push(mine, other);
  let now = T0;
  const clock = { now: () => now };
  let reads = 0;
  const tokens: TokenStore = { ...mine.tokens, findToken: (h) => (reads++, mine.tokens.findToken(h)) };
  const auth = new Authenticator(mine.clients, tokens, nodeHasher, clock);
  await mine.ledger.createUser({ userId: "usr_a", email: "a@example.com", firstName: "A", lastName: "A", createdAt: T0 });
  const hash = String(nodeHasher.sha256Hex("tok_a"));
  await mine.tokens.createToken({ tokenHash: hash, userId: "usr_a", scopes: ["wallets:read"], expiresAt: T0 + 60_000, revoked: false, createdAt: T0 });
  return { auth, other, hash, reads: () => reads, advance: (ms: number) => (now += ms) };
}

const invalid = (f: () => unknown) =>
  Promise.resolve()
    .then(f)
    .then(
      () => expect.unreachable("the token was accepted"),
      (e: unknown) => expect((e as GatewayError).code).toBe("invalid_token"),
    );

describe("principal cache", () => {
  it("serves a principal from the cache while the credentials version is unchanged", async () => {
    const { auth, hash, reads } = await setup();
    const first = await auth.principalFor(hash, await auth.session());
    expect(first).toMatchObject({ userId: "usr_a" });
    expect(reads()).toBe(1);
    const again = auth.principalFor(hash, await auth.session());
    // A hit is synchronous and reads nothing.
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ userId: "usr_a" });
    expect(reads()).toBe(1);
  });

  it("stops a token revoked by another connection at the next session", async () => {
    const { auth, other, hash } = await setup();
    await auth.principalFor(hash, await auth.session());
    expect(await other.tokens.revokeToken(hash, T0)).toBe(true);
    await invalid(async () => auth.principalFor(hash, await auth.session()));
  });

  it("stops a token re-expired by another connection at the next session", async () => {
    const { auth, other, hash } = await setup();
    await auth.principalFor(hash, await auth.session());
    await other.tokens.expireToken(hash, T0);
    await invalid(async () => auth.principalFor(hash, await auth.session()));
  });

  it("checks expiry against the clock on every use, cache hit or not", async () => {
    const { auth, hash, reads, advance } = await setup();
    await auth.principalFor(hash, await auth.session());
    advance(59_999);
    expect(auth.principalFor(hash, await auth.session())).toMatchObject({ userId: "usr_a" });
    advance(1);
    await invalid(async () => auth.principalFor(hash, await auth.session()));
    expect(reads()).toBe(1);
  });

  it("does not cache a record read under a session the version has since moved past", async () => {
    const { auth, other, hash, reads } = await setup();
    const old = await auth.session();
    // Another batch sees a newer version (a different token changed) before this one reads.
    await other.tokens.expireToken(hash, T0 + 50_000);
    const fresh = await auth.session();
    await auth.principalFor(hash, old);
    expect(reads()).toBe(1);
    await auth.principalFor(hash, fresh);
    expect(reads()).toBe(2);
    // Filled under the current version: now a hit.
    await auth.principalFor(hash, await auth.session());
    expect(reads()).toBe(2);
  });

  it("sessionSync reads the version without a promise and is as exact as session()", async () => {
    const { auth, other, hash, reads } = await setup();
    expect(auth.hasSyncSession).toBe(true);
    const s1 = auth.sessionSync();
    expect(s1.version).toBe((await auth.session()).version);
    await auth.principalFor(hash, s1);
    expect(auth.principalFor(hash, auth.sessionSync())).toMatchObject({ userId: "usr_a" });
    expect(reads()).toBe(1);
    // Revoked by another connection: the next synchronous session sees it.
    expect(await other.tokens.revokeToken(hash, T0)).toBe(true);
    await invalid(() => auth.principalFor(hash, auth.sessionSync()));
  });

  it("has no synchronous session over a token store without a synchronous version read", async () => {
    const { hash } = await setup();
    const file = join(tempDir("batchgate-cache-"), "db.sqlite");
    const store = new SqlStore(openBetterSqlite({ filename: file }));
    stores.push(store);
    const { credentialsVersionSync: _sync, ...asyncOnly } = store.tokens;
    const auth = new Authenticator(store.clients, asyncOnly, nodeHasher, { now: () => T0 });
    expect(auth.hasSyncSession).toBe(false);
    await invalid(async () => auth.principalFor(hash, await auth.session()));
  });

  it("reads the store on every call without a session, and never caches an invalid token", async () => {
    const { auth, hash, reads } = await setup();
    await auth.principalFor(hash);
    await auth.principalFor(hash);
    expect(reads()).toBe(2);
    const s = await auth.session();
    await invalid(() => auth.principalFor("0".repeat(64), s));
    await invalid(() => auth.principalFor("0".repeat(64), s));
    expect(reads()).toBe(4);
  });
});

describe("client cache (batches)", () => {
  async function clientSetup() {
    const file = join(tempDir("batchgate-clients-"), "db.sqlite");
    const mine = new SqlStore(openBetterSqlite({ filename: file }));
    const other = new SqlStore(openBetterSqlite({ filename: file }));
    stores.push(mine, other);
    let reads = 0;
    const clients = {
      ...mine.clients,
      findClient: (id: number) => (reads++, mine.clients.findClient(id)),
      findClientSync: (id: number) => (reads++, mine.clients.findClientSync!(id)),
    };
    const auth = new Authenticator(clients, mine.tokens, nodeHasher, { now: () => T0 });
    await mine.clients.createClient({ clientId: 7, name: "c", secretHash: String(nodeHasher.sha256Hex("cs_old")), status: "active", createdAt: T0 });
    /** What a batch does: verify, then its admission confirms under the version it reads. */
    const batch = async (secret: string) => {
      const v = await auth.verifyBatchClient(7, secret);
      v.confirm?.(auth.sessionSync());
      return v;
    };
    // Two batches: the first reads the version, the second caches the client under it.
    auth.sessionSync();
    await batch("cs_old");
    return { auth, other, batch, reads: () => reads };
  }
  const refused = (p: Promise<unknown>) =>
    p.then(
      () => expect.unreachable("the client was accepted"),
      (e: unknown) => expect((e as GatewayError).code).toBe("invalid_client"),
    );

  it("verifies a cached client without a read, provisionally, and confirms it under the same version without one", async () => {
    const { auth, reads } = await clientSetup();
    const before = reads();
    const v = await auth.verifyBatchClient(7, "cs_old");
    expect(v.client.clientId).toBe(7);
    expect(v.confirm).toBeTypeOf("function");
    v.confirm!(auth.sessionSync());
    expect(reads()).toBe(before);
  });

  it("refuses, at the admission, a cached client disabled by another connection; then refuses it outright", async () => {
    const { other, batch } = await clientSetup();
    await batch("cs_old");
    expect(await other.clients.setClientStatus(7, "disabled")).toMatchObject({ status: "disabled" });
    await refused(batch("cs_old"));
    await refused(batch("cs_old"));
  });

  it("refuses the old secret once another connection rotated it; the new secret works at once", async () => {
    const { other, batch } = await clientSetup();
    await batch("cs_old");
    await other.clients.rotateClientSecret(7, String(nodeHasher.sha256Hex("cs_new")));
    await refused(batch("cs_old"));
    expect((await batch("cs_new")).client.clientId).toBe(7);
    await refused(batch("cs_old"));
  });

  it("never accepts a wrong secret from the cache: it is checked against the store", async () => {
    const { batch, reads } = await clientSetup();
    const before = reads();
    await refused(batch("cs_wrong"));
    expect(reads()).toBe(before + 1);
  });
});
