/**
 * Treasury through app.request over a real SQLite store: the admin API opening and funding a
 * client's treasury wallets and setting users' default destinations, the client API reading its
 * treasury (HTTP Basic), the demo seed's treasuries and destinations, and every refusal — each
 * asserting that nothing changed.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { demoTreasuryFundingId, demoUsersOf, seedDemoTreasury } from "../../src/demo-data.js";
import { PAYOUT_DESTINATIONS } from "../../src/handlers/payouts.js";
import { PAYOUT_RAILS } from "../../src/ports/rails.js";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";

const KEY = "adm_test_key_0123456789abcdef";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
let gw: TestGateway;

const admin = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await gw.app.request(path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { res, body: (await res.json()) as any };
};

const asClient = async (client: { client_id: number; client_secret: string }, path: string) => {
  const res = await gw.app.request(path, { headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` } });
  return { res, body: (await res.json()) as any };
};

const auditCount = async () => (await admin("GET", "/admin/v1/audit?limit=100")).body.data.length as number;

/** A fresh client made through the admin API (no treasury yet). */
const newClient = async (name = "Partner") => {
  const { body } = await admin("POST", "/admin/v1/clients", { name });
  return { client_id: body.client_id as number, client_secret: body.client_secret as string };
};

beforeAll(async () => {
  gw = await makeGateway({ env: { ADMIN_API_KEY: KEY }, users: 2 });
});

describe("demo seed", () => {
  it("gives each demo client a USD treasury of 1,000,000.00, funded once by seed_treasury_<client>_USD", async () => {
    expect(gw.creds.clients).toHaveLength(2);
    for (const client of gw.creds.clients) {
      const { res, body } = await asClient(client, "/v1/treasury/wallets");
      expect(res.status).toBe(200);
      expect(body).toEqual({
        object: "list",
        data: [{ id: expect.stringMatching(/^wal_/), object: "treasury_wallet", currency: "USD", balance: "1000000.00", status: "active", created_at: expect.stringMatching(ISO) }],
      });
      const entries = await asClient(client, `/v1/treasury/wallets/${body.data[0].id}/entries`);
      expect(entries.body.data).toEqual([{ id: expect.stringMatching(/^ent_/), amount: "1000000.00", kind: "funding", ref_id: demoTreasuryFundingId(client.client_id), created_at: expect.stringMatching(ISO) }]);
      expect((await gw.services.store.ledger.getUser(`cli_${client.client_id}`))?.lastName).toBe("Treasury");
    }
  });

  it("gives every demo user a valid default destination on every rail", async () => {
    for (const u of gw.creds.users) {
      const { res, body } = await admin("GET", `/admin/v1/users/${u.user_id}/destinations`);
      expect(res.status).toBe(200);
      expect(body.data.map((d: any) => d.rail)).toEqual([...PAYOUT_RAILS].sort());
      for (const d of body.data) expect(PAYOUT_DESTINATIONS[d.rail as keyof typeof PAYOUT_DESTINATIONS].safeParse(d.destination).success, d.rail).toBe(true);
    }
  });

  it("seeding the treasuries again (a restart) credits nothing and keeps an operator's destination", async () => {
    const store = gw.services.store;
    const u = gw.creds.users[0].user_id;
    const mine = { routing_number: "021000021", account_number: "55555" };
    expect((await admin("PUT", `/admin/v1/users/${u}/destinations/ach`, mine)).res.status).toBe(200);
    const before = await store.ledger.audit();
    const wallets = await Promise.all(gw.creds.clients.map((c) => store.treasury.listTreasuryWallets(c.client_id)));
    await seedDemoTreasury(store, nodeHasher, { clientIds: gw.creds.clients.map((c) => c.client_id), users: demoUsersOf(gw.creds) });
    expect(await store.ledger.audit()).toEqual(before);
    expect(await Promise.all(gw.creds.clients.map((c) => store.treasury.listTreasuryWallets(c.client_id)))).toEqual(wallets);
    expect((await store.treasury.defaultDestination(u, "ach"))?.destination).toEqual(mine);
  });
});

describe("admin API: treasury wallets", () => {
  it("opens a treasury wallet (201), funds it once per funding_id, answers the same wallet again (200), and audits", async () => {
    const client = await newClient();
    const path = `/admin/v1/clients/${client.client_id}/treasury-wallets`;
    const funding = { amount: "2500.50", funding_id: "acme-eur-1", reason: "opening balance" };
    const opened = await admin("POST", path, { currency: "EUR", funding });
    expect(opened.res.status).toBe(201);
    expect(opened.body).toEqual({
      wallet_id: expect.stringMatching(/^wal_/),
      user_id: `cli_${client.client_id}`,
      client_id: client.client_id,
      currency: "EUR",
      balance: "2500.50",
      frozen: false,
      created_at: expect.stringMatching(ISO),
      funding: { funding_id: "acme-eur-1", amount: "2500.50", currency: "EUR", reason: "opening balance", replayed: false },
    });
    const walletId = opened.body.wallet_id;
    // Again with the same funding: the same wallet, nothing credited.
    const again = await admin("POST", path, { currency: "EUR", funding });
    expect(again.res.status).toBe(200);
    expect(again.body).toMatchObject({ wallet_id: walletId, balance: "2500.50", funding: { replayed: true } });
    // Again with a new funding id: the same wallet, credited once more.
    const more = await admin("POST", path, { currency: "EUR", funding: { ...funding, funding_id: "acme-eur-2" } });
    expect(more.res.status).toBe(200);
    expect(more.body).toMatchObject({ wallet_id: walletId, balance: "5001.00", funding: { funding_id: "acme-eur-2", replayed: false } });
    // Without funding: the same wallet, funding null.
    const plain = await admin("POST", path, { currency: "EUR" });
    expect(plain.res.status).toBe(200);
    expect(plain.body).toMatchObject({ wallet_id: walletId, balance: "5001.00", funding: null });
    // Funding later through the ordinary wallet funding route.
    const fund = await admin("POST", `/admin/v1/wallets/${walletId}/fund`, { amount: "10.00", reason: "top-up", idempotency_key: "acme-eur-topup" });
    expect(fund.res.status).toBe(200);
    expect(fund.body.wallet.balance).toBe("5011.00");
    const usd = await admin("POST", path, { currency: "USD" });
    expect(usd.res.status).toBe(201);
    expect(usd.body).toMatchObject({ currency: "USD", balance: "0.00", funding: null });

    const list = await admin("GET", path);
    expect(list.res.status).toBe(200);
    expect(list.body).toEqual({
      object: "list",
      data: [
        { wallet_id: walletId, user_id: `cli_${client.client_id}`, client_id: client.client_id, currency: "EUR", balance: "5011.00", frozen: false, created_at: opened.body.created_at },
        { wallet_id: usd.body.wallet_id, user_id: `cli_${client.client_id}`, client_id: client.client_id, currency: "USD", balance: "0.00", frozen: false, created_at: usd.body.created_at },
      ],
      has_more: false,
      next_cursor: null,
    });
    const audit = (await admin("GET", "/admin/v1/audit?limit=100")).body.data as any[];
    const mine = audit.filter((a) => a.target === walletId || a.target === usd.body.wallet_id).map((a) => [a.action, a.details.funding_id ?? a.details.currency]);
    expect(mine).toEqual([
      ["treasury.open", "USD"],
      ["wallet.fund", expect.stringMatching(/^fnd_/)],
      ["wallet.fund", "acme-eur-2"],
      ["wallet.fund", "acme-eur-1"],
      ["treasury.open", "EUR"],
    ]);
    await expect(gw.services.store.ledger.audit()).resolves.toMatchObject({ entrySum: 0, mismatchedWallets: [] });
  });

  it("refuses a bad currency, an unknown client, a bad amount and a reused funding_id, changing nothing", async () => {
    const client = await newClient();
    const path = `/admin/v1/clients/${client.client_id}/treasury-wallets`;
    const first = await admin("POST", path, { currency: "USD", funding: { amount: "100.00", funding_id: "f-1", reason: "r" } });
    expect(first.res.status).toBe(201);
    const ledger = await gw.services.store.ledger.audit();
    const audits = await auditCount();
    const cases: [unknown, number, string, string | undefined][] = [
      [{ currency: "usd" }, 400, "invalid_body", "body.currency"],
      [{ currency: "XXX" }, 400, "invalid_body", "body.currency"],
      [{}, 400, "invalid_body", "body.currency"],
      [{ currency: "EUR", extra: 1 }, 400, "invalid_body", "body.extra"],
      [{ currency: "EUR", funding: { amount: "-5.00", funding_id: "f-2", reason: "r" } }, 400, "invalid_body", "body.funding.amount"],
      [{ currency: "EUR", funding: { amount: "1.001", funding_id: "f-2", reason: "r" } }, 400, "invalid_body", "body.funding.amount"],
      [{ currency: "EUR", funding: { amount: "1.00", funding_id: "bad id!", reason: "r" } }, 400, "invalid_body", "body.funding.funding_id"],
      [{ currency: "EUR", funding: { amount: "1.00", funding_id: "f-3" } }, 400, "invalid_body", "body.funding.reason"],
      [{ currency: "USD", funding: { amount: "999.00", funding_id: "f-1", reason: "r" } }, 422, "idempotency_key_reused", "body.funding.funding_id"],
    ];
    for (const [body, status, code, fieldName] of cases) {
      const r = await admin("POST", path, body);
      expect(r.res.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.code, JSON.stringify(body)).toBe(code);
      if (fieldName) expect(r.body.error.details?.field, JSON.stringify(body)).toBe(fieldName);
    }
    for (const [p, status, code] of [
      ["/admin/v1/clients/999999/treasury-wallets", 404, "not_found"],
      ["/admin/v1/clients/abc/treasury-wallets", 400, "invalid_body"],
    ] as const) {
      const r = await admin("POST", p, { currency: "USD", funding: { amount: "5.00", funding_id: "f-9", reason: "r" } });
      expect([r.res.status, r.body.error.code], p).toEqual([status, code]);
      const l = await admin("GET", p);
      expect([l.res.status, l.body.error.code], p).toEqual([status, code]);
    }
    const text = await admin("POST", path, JSON.stringify({ currency: "EUR" }), { "content-type": "text/plain" });
    expect([text.res.status, text.body.error.code]).toEqual([415, "unsupported_media_type"]);
    expect(await gw.services.store.ledger.audit()).toEqual(ledger);
    expect((await admin("GET", path)).body.data.map((w: any) => [w.currency, w.balance])).toEqual([["USD", "100.00"]]);
    expect(await auditCount()).toBe(audits);
    expect(await gw.services.store.treasury.listTreasuryWallets(999999)).toEqual([]);
  });

  it("refuses tokens and hand-opened wallets for a treasury holder (422), changing nothing", async () => {
    const holder = `cli_${gw.creds.clients[0].client_id}`;
    const audits = await auditCount();
    const token = await admin("POST", `/admin/v1/users/${holder}/tokens`, { scopes: ["wallets:read"] });
    expect(token.res.status).toBe(422);
    expect(token.body.error).toMatchObject({ code: "treasury_holder_not_allowed", details: { field: "param.user_id" } });
    expect(token.body.error.message).toMatch(/treasury holder.*no access tokens/);
    const wallet = await admin("POST", `/admin/v1/users/${holder}/wallets`, { currency: "EUR" });
    expect([wallet.res.status, wallet.body.error.code]).toEqual([422, "treasury_holder_not_allowed"]);
    expect((await admin("GET", `/admin/v1/users/${holder}/tokens`)).body.data).toEqual([]);
    expect((await gw.services.store.ledger.listWallets(holder)).map((w) => w.currency)).toEqual(["USD"]);
    expect(await auditCount()).toBe(audits);
  });
});

describe("admin API: default destinations", () => {
  it("sets, replaces and lists a user's destinations by rail, and audits without the destination", async () => {
    const created = await admin("POST", "/admin/v1/users", { email: "payee@example.com", first_name: "Pay", last_name: "Ee" });
    const u = created.body.user_id;
    expect((await admin("GET", `/admin/v1/users/${u}/destinations`)).body).toEqual({ object: "list", data: [], has_more: false, next_cursor: null });
    const ach = await admin("PUT", `/admin/v1/users/${u}/destinations/ach`, { routing_number: "110000000", account_number: "12345678" });
    expect(ach.res.status).toBe(200);
    expect(ach.body).toEqual({ rail: "ach", destination: { routing_number: "110000000", account_number: "12345678" }, updated_at: expect.stringMatching(ISO) });
    const venmo = await admin("PUT", `/admin/v1/users/${u}/destinations/venmo`, { handle: "@payee" });
    expect(venmo.res.status).toBe(200);
    const replaced = await admin("PUT", `/admin/v1/users/${u}/destinations/ach`, { routing_number: "021000021", account_number: "9999" });
    expect(replaced.body.destination).toEqual({ routing_number: "021000021", account_number: "9999" });
    const list = await admin("GET", `/admin/v1/users/${u}/destinations`);
    expect(list.body.data).toEqual([replaced.body, venmo.body]);
    expect(await gw.services.store.treasury.defaultDestination(u, "ach")).toMatchObject({ destination: { routing_number: "021000021", account_number: "9999" } });
    const audit = (await admin("GET", "/admin/v1/audit?limit=5")).body.data as any[];
    expect(audit[0]).toMatchObject({ action: "user.destination.set", target: u, details: { rail: "ach" } });
    expect(JSON.stringify(audit)).not.toContain("021000021");
  });

  it("refuses an unknown user, a bad rail, a bad destination and a treasury holder, changing nothing", async () => {
    const u = gw.creds.users[1].user_id;
    const before = (await admin("GET", `/admin/v1/users/${u}/destinations`)).body;
    const audits = await auditCount();
    const cases: [string, unknown, number, string, string | undefined][] = [
      [`/admin/v1/users/usr_nobody/destinations/ach`, { routing_number: "110000000", account_number: "1234" }, 404, "not_found", undefined],
      [`/admin/v1/users/${u}/destinations/swift`, { iban: "DE00" }, 422, "invalid_destination", "param.rail"],
      [`/admin/v1/users/${u}/destinations/__proto__`, {}, 422, "invalid_destination", "param.rail"],
      [`/admin/v1/users/${u}/destinations/ach`, { routing_number: "12", account_number: "1234" }, 422, "invalid_destination", "body.routing_number"],
      [`/admin/v1/users/${u}/destinations/ach`, { routing_number: "110000000" }, 422, "invalid_destination", "body.account_number"],
      [`/admin/v1/users/${u}/destinations/paypal`, { email: "x@example.com", note: "hi" }, 422, "invalid_destination", "body.note"],
      [`/admin/v1/users/${u}/destinations/card`, { card_token: "4242424242424242" }, 422, "invalid_destination", "body.card_token"],
      [`/admin/v1/users/${u}/destinations/check`, [], 400, "invalid_body", undefined],
      [`/admin/v1/users/cli_${gw.creds.clients[0].client_id}/destinations/ach`, { routing_number: "110000000", account_number: "1234" }, 422, "treasury_holder_not_allowed", "param.user_id"],
    ];
    for (const [path, body, status, code, fieldName] of cases) {
      const r = await admin("PUT", path, body);
      expect(r.res.status, path).toBe(status);
      expect(r.body.error.code, path).toBe(code);
      if (fieldName) expect(r.body.error.details?.field, path).toBe(fieldName);
    }
    const text = await admin("PUT", `/admin/v1/users/${u}/destinations/ach`, JSON.stringify({ routing_number: "110000000", account_number: "1234" }), { "content-type": "text/plain" });
    expect([text.res.status, text.body.error.code]).toEqual([415, "unsupported_media_type"]);
    const broken = await admin("PUT", `/admin/v1/users/${u}/destinations/ach`, "{not json");
    expect([broken.res.status, broken.body.error.code]).toEqual([400, "invalid_json"]);
    const unknown = await admin("GET", "/admin/v1/users/usr_nobody/destinations");
    expect([unknown.res.status, unknown.body.error.code]).toEqual([404, "not_found"]);
    expect((await admin("GET", `/admin/v1/users/${u}/destinations`)).body).toEqual(before);
    expect(await gw.services.store.treasury.listDefaultDestinations("usr_nobody")).toEqual([]);
    expect(await auditCount()).toBe(audits);
  });
});

describe("client API: /v1/treasury", () => {
  it("lists the client's own treasury wallets only; a client without one gets an empty list", async () => {
    const [a, b] = gw.creds.clients;
    const mine = (await asClient(a, "/v1/treasury/wallets")).body.data.map((w: any) => w.id);
    const theirs = (await asClient(b, "/v1/treasury/wallets")).body.data.map((w: any) => w.id);
    expect(mine).toHaveLength(1);
    expect(theirs).toHaveLength(1);
    expect(mine[0]).not.toBe(theirs[0]);
    const fresh = await newClient();
    expect((await asClient(fresh, "/v1/treasury/wallets")).body).toEqual({ object: "list", data: [] });
  });

  it("shows a frozen treasury wallet's status", async () => {
    const client = await newClient();
    const opened = await admin("POST", `/admin/v1/clients/${client.client_id}/treasury-wallets`, { currency: "GBP" });
    await admin("POST", `/admin/v1/wallets/${opened.body.wallet_id}/freeze`);
    expect((await asClient(client, "/v1/treasury/wallets")).body.data).toMatchObject([{ id: opened.body.wallet_id, currency: "GBP", status: "frozen", balance: "0.00" }]);
  });

  it("pages a treasury wallet's entries newest first with signed amounts, by next_cursor", async () => {
    const client = await newClient();
    const path = `/admin/v1/clients/${client.client_id}/treasury-wallets`;
    const t = (await admin("POST", path, { currency: "USD", funding: { amount: "100.00", funding_id: "p-1", reason: "r" } })).body;
    await admin("POST", path, { currency: "USD", funding: { amount: "200.00", funding_id: "p-2", reason: "r" } });
    // Money out of the treasury, as a payout item's transfer moves it.
    const user = gw.creds.users[0];
    const recipient = (await gw.services.store.treasury.ensureUserWallet(user.user_id, "USD", "wal_ignored", Date.now()))!.wallet;
    const moved = await gw.services.store.ledger.transfer({ paymentId: "pay_treasury_test", userId: t.user_id, fromWalletId: t.wallet_id, toWalletId: recipient.walletId, amount: 2_575, currency: "USD", description: null, now: Date.now() });
    expect(moved.ok).toBe(true);
    const p1 = await asClient(client, `/v1/treasury/wallets/${t.wallet_id}/entries?limit=2`);
    expect(p1.res.status).toBe(200);
    expect(p1.body).toEqual({
      object: "list",
      data: [
        { id: expect.stringMatching(/^ent_/), amount: "-25.75", kind: "payment", ref_id: "pay_treasury_test", created_at: expect.stringMatching(ISO) },
        { id: expect.stringMatching(/^ent_/), amount: "200.00", kind: "funding", ref_id: "p-2", created_at: expect.stringMatching(ISO) },
      ],
      has_more: true,
      next_cursor: p1.body.data[1].id,
    });
    const p2 = await asClient(client, `/v1/treasury/wallets/${t.wallet_id}/entries?limit=2&starting_after=${p1.body.next_cursor}`);
    expect(p2.body).toEqual({ object: "list", data: [expect.objectContaining({ amount: "100.00", ref_id: "p-1" })], has_more: false, next_cursor: null });
    expect((await asClient(client, "/v1/treasury/wallets")).body.data[0].balance).toBe("274.25");
  });

  it("answers 404 for another client's wallet, a user's wallet or none; 400 for a bad cursor or limit; 401 without credentials", async () => {
    const [a, b] = gw.creds.clients;
    const theirs = (await asClient(b, "/v1/treasury/wallets")).body.data[0].id;
    const mine = (await asClient(a, "/v1/treasury/wallets")).body.data[0].id;
    const userWallet = gw.creds.users[0].wallets[0].wallet_id;
    const ledger = await gw.services.store.ledger.audit();
    for (const id of [theirs, userWallet, "wal_nothing"]) {
      const r = await asClient(a, `/v1/treasury/wallets/${id}/entries`);
      expect([r.res.status, r.body.error.code], id).toEqual([404, "not_found"]);
      expect(JSON.stringify(r.body)).not.toContain("1000000");
    }
    const theirEntry = (await asClient(b, `/v1/treasury/wallets/${theirs}/entries`)).body.data[0].id;
    for (const q of [`starting_after=${theirEntry}`, "starting_after=ent_999999999", "starting_after=nope"]) {
      const r = await asClient(a, `/v1/treasury/wallets/${mine}/entries?${q}`);
      expect([r.res.status, r.body.error.code, r.body.error.details?.field], q).toEqual([400, "invalid_body", "query.starting_after"]);
    }
    for (const q of ["limit=0", "limit=101", "limit=x"]) {
      const r = await asClient(a, `/v1/treasury/wallets/${mine}/entries?${q}`);
      expect([r.res.status, r.body.error.code, r.body.error.details?.field], q).toEqual([400, "invalid_body", "query.limit"]);
    }
    const bad = await asClient({ client_id: a.client_id, client_secret: "cs_wrong" }, "/v1/treasury/wallets");
    expect([bad.res.status, bad.body.error.code]).toEqual([401, "invalid_client"]);
    expect(bad.res.headers.get("www-authenticate")).toMatch(/^Basic/);
    const none = await gw.app.request("/v1/treasury/wallets");
    expect(none.status).toBe(401);
    expect(await gw.services.store.ledger.audit()).toEqual(ledger);
  });

  it("is described in /openapi.json", async () => {
    const doc = (await (await gw.app.request("/openapi.json")).json()) as any;
    expect(doc.paths["/v1/treasury/wallets"].get.security).toEqual([{ basicAuth: [] }]);
    expect(Object.keys(doc.paths["/v1/treasury/wallets/{id}/entries"].get.responses).sort()).toEqual(["200", "400", "401", "404", "503"]);
    expect(doc.paths["/admin/v1/clients/{client_id}/treasury-wallets"].post).toBeDefined();
    expect(doc.paths["/admin/v1/clients/{client_id}/treasury-wallets"].get).toBeDefined();
    const put = doc.paths["/admin/v1/users/{user_id}/destinations/{rail}"].put;
    expect(JSON.stringify(put.requestBody)).toContain("routing_number");
    expect(doc.paths["/admin/v1/users/{user_id}/destinations"].get).toBeDefined();
    expect(doc.components.schemas.TreasuryWallet.properties.object).toBeDefined();
  });
});
