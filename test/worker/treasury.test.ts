/**
 * Treasury on the worker adapter in-process (the Durable Object storage stand-in): the seeded
 * client's treasury through /v1/treasury, and the admin treasury and destination routes, on the
 * SQL store over the Durable Object driver (migration 10 included).
 */
import { describe, expect, it } from "vitest";
import { createGatewayHandler } from "../../src/adapters/workers/gateway.js";
import type { DemoCredentials } from "../../src/demo-data.js";
import { fakeDurableObjectStorage } from "../helpers/fake-do-storage.js";

const DEV = "d".repeat(40);
const KEY = "adm_worker_key_0123456789abcdef";

describe("worker gateway: treasury", () => {
  it("serves the seeded treasury to its client, and the admin treasury and destination routes", async () => {
    const h = createGatewayHandler({ DEMO_USERS: "1", DEV_ROUTES_TOKEN: DEV, ADMIN_API_KEY: KEY }, fakeDurableObjectStorage(), { logSink: () => undefined });
    const req = (path: string, init: RequestInit = {}) => h.fetch(new Request(`http://gw.test${path}`, init));
    const seed = await req("/__dev/seed", { method: "POST", headers: { authorization: `Bearer ${DEV}` } });
    expect(seed.status).toBe(200);
    const { credentials } = (await seed.json()) as { credentials: DemoCredentials };
    const [a, b] = credentials.clients;
    const basic = (c: { client_id: number; client_secret: string }) => ({ authorization: `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}` });

    const list = (await (await req("/v1/treasury/wallets", { headers: basic(a) })).json()) as any;
    expect(list.data).toEqual([expect.objectContaining({ object: "treasury_wallet", currency: "USD", balance: "1000000.00", status: "active" })]);
    const entries = (await (await req(`/v1/treasury/wallets/${list.data[0].id}/entries`, { headers: basic(a) })).json()) as any;
    expect(entries).toMatchObject({ object: "list", data: [{ amount: "1000000.00", kind: "funding", ref_id: `seed_treasury_${a.client_id}_USD` }], has_more: false, next_cursor: null });
    const other = await req(`/v1/treasury/wallets/${list.data[0].id}/entries`, { headers: basic(b) });
    expect(other.status).toBe(404);

    const admin = (method: string, path: string, body?: unknown) =>
      req(path, { method, headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const opened = await admin("POST", `/admin/v1/clients/${b.client_id}/treasury-wallets`, { currency: "EUR", funding: { amount: "12.34", funding_id: "w-1", reason: "worker" } });
    expect(opened.status).toBe(201);
    expect(await opened.json()).toMatchObject({ currency: "EUR", balance: "12.34", client_id: b.client_id });
    const u = credentials.users[0].user_id;
    expect((await admin("PUT", `/admin/v1/users/${u}/destinations/venmo`, { handle: "@worker" })).status).toBe(200);
    const dests = (await (await admin("GET", `/admin/v1/users/${u}/destinations`)).json()) as any;
    expect(dests.data.find((d: any) => d.rail === "venmo").destination).toEqual({ handle: "@worker" });
    expect(dests.data).toHaveLength(5);
  });
});
