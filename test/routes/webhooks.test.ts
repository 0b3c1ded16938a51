/**
 * Webhooks end to end in one process: the /v1/webhook-endpoints routes through app.request, events
 * emitted straight into the outbox (services.events, as the batch runner does), the real timer
 * runner driving the delivery pump, and a real HTTP receiver on 127.0.0.1. Every delivery is
 * verified with the independent `standardwebhooks` package. Retry delays are shortened by
 * configuration (WEBHOOK_RETRY_SCHEDULE) instead of faking timers, because the attempts go over
 * real sockets with a real timeout.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GatewayEvent } from "../../src/ports/events.js";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";
import { startReceiver, verifyWith, waitFor, type Receiver } from "../helpers/webhook-receiver.js";

type Json = any;

let gw: TestGateway;
let basic: string;
let otherBasic: string;
let receiver: Receiver;
let seq = 0;

beforeAll(async () => {
  gw = await makeGateway({
    file: true,
    env: { WEBHOOK_ALLOW_PRIVATE_URLS: "true", WEBHOOK_RETRY_SCHEDULE: "50ms,50ms,50ms,50ms", WEBHOOK_TIMEOUT_MS: "400", WEBHOOK_ROTATION_GRACE_S: "3600" },
  });
  const [c1, c2] = gw.creds.clients;
  basic = `Basic ${btoa(`${c1.client_id}:${c1.client_secret}`)}`;
  otherBasic = `Basic ${btoa(`${c2.client_id}:${c2.client_secret}`)}`;
  gw.services.background.start();
});
afterAll(async () => {
  await gw.services.background.stop();
  await gw.services.store.close();
});
afterEach(async () => {
  // Each test's endpoints go with its receiver, so a later receiver reusing the port gets nothing of theirs.
  for (const c of gw.creds.clients) {
    for (const e of await gw.services.store.webhooks.listEndpoints(Number(c.client_id))) await gw.services.store.webhooks.deleteEndpoint(e.endpointId);
  }
  await receiver?.close();
});

async function api(method: string, path: string, body?: unknown, auth: string | null = basic) {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await gw.app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { res, body: (await res.json()) as Json };
}

async function endpoint(extra: Record<string, unknown> = {}, path = "/hook") {
  const { res, body } = await api("POST", "/v1/webhook-endpoints", { url: `${receiver.url}${path}`, ...extra });
  expect(res.status).toBe(201);
  return body as { id: string; secret: string } & Json;
}

function event(type: GatewayEvent["type"], data: Record<string, unknown> = {}, clientId = gw.creds.clients[0].client_id): GatewayEvent {
  return { id: `evt_test_${++seq}`, clientId: Number(clientId), type, data: { batch_id: "bat_1", ...data }, createdAt: Date.now() };
}

async function attempts(endpointId: string, query = "") {
  const { res, body } = await api("GET", `/v1/webhook-endpoints/${endpointId}/deliveries${query}`);
  expect(res.status).toBe(200);
  return body as { data: Json[]; has_more: boolean };
}

describe("webhook endpoints", () => {
  it("are described in /openapi.json with HTTP Basic and v1 errors", async () => {
    const doc = (await (await gw.app.request("/openapi.json")).json()) as Json;
    const ops: [string, string, string][] = [
      ["/v1/webhook-endpoints", "post", "201"],
      ["/v1/webhook-endpoints", "get", "200"],
      ["/v1/webhook-endpoints/{id}", "get", "200"],
      ["/v1/webhook-endpoints/{id}", "delete", "200"],
      ["/v1/webhook-endpoints/{id}/rotate-secret", "post", "200"],
      ["/v1/webhook-endpoints/{id}/deliveries", "get", "200"],
      ["/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/resend", "post", "202"],
    ];
    for (const [path, method, ok] of ops) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.security).toEqual([{ basicAuth: [] }]);
      expect(op.responses[ok]).toBeDefined();
      expect(op.responses["401"].content["application/json"].schema.$ref).toBe("#/components/schemas/V1Error");
    }
  });

  it("creates an endpoint showing the secret once; list and get never show it, nor do the logs", async () => {
    receiver = await startReceiver();
    const created = await endpoint({ events: ["batch.completed", "batch.started"], description: "ops" });
    expect(created.id).toMatch(/^whe_/);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created).toMatchObject({ events: ["batch.started", "batch.completed"], all_events: false, item_events: true, status: "enabled", description: "ops" });
    const list = await api("GET", "/v1/webhook-endpoints");
    expect(list.res.status).toBe(200);
    const listed = list.body.data.find((e: Json) => e.id === created.id);
    expect(listed).toMatchObject({ id: created.id, url: `${receiver.url}/hook` });
    expect(listed.secret).toBeUndefined();
    const one = await api("GET", `/v1/webhook-endpoints/${created.id}`);
    expect(one.body.secret).toBeUndefined();
    expect(JSON.stringify([list.body, one.body])).not.toContain(created.secret.slice(6));
    expect(gw.logs.join("")).not.toContain(created.secret.slice(6));
    // Stored encrypted: the store holds no trace of the secret either.
    const stored = await gw.services.store.webhooks.getEndpoint(created.id);
    expect(JSON.stringify(stored)).not.toContain(created.secret.slice(6));
  });

  it("answers 401 without HTTP Basic, 404 for another client's endpoint, and deletes", async () => {
    receiver = await startReceiver();
    const created = await endpoint();
    const anon = await api("GET", "/v1/webhook-endpoints", undefined, null);
    expect(anon.res.status).toBe(401);
    expect(anon.res.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect(anon.body.error).toMatchObject({ code: "invalid_client" });
    const wrong = await api("GET", "/v1/webhook-endpoints", undefined, `Basic ${btoa(`${gw.creds.clients[0].client_id}:nope`)}`);
    expect(wrong.res.status).toBe(401);
    const theirs = await api("GET", `/v1/webhook-endpoints/${created.id}`, undefined, otherBasic);
    expect(theirs.res.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    expect((await api("DELETE", `/v1/webhook-endpoints/${created.id}`, undefined, otherBasic)).res.status).toBe(404);
    const del = await api("DELETE", `/v1/webhook-endpoints/${created.id}`);
    expect(del.body).toEqual({ id: created.id, deleted: true });
    expect((await api("GET", `/v1/webhook-endpoints/${created.id}`)).res.status).toBe(404);
  });

  it("refuses bad bodies with invalid_body naming the field, and stores nothing", async () => {
    receiver = await startReceiver();
    const before = (await api("GET", "/v1/webhook-endpoints")).body.data.length;
    for (const [body, field] of [
      [{}, "body.url"],
      [{ url: `${receiver.url}/x`, events: ["batch.exploded"] }, "body.events.0"],
      [{ url: `${receiver.url}/x`, events: [] }, "body.events"],
      [{ url: `${receiver.url}/x`, item_events: "no" }, "body.item_events"],
      [{ url: `${receiver.url}/x`, secret: "whsec_mine" }, "body"],
      [{ url: `${receiver.url}/x`, events: ["batch.item.failed"], item_events: false }, "body.events"],
    ] as const) {
      const r = await api("POST", "/v1/webhook-endpoints", body);
      expect(r.res.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error).toMatchObject({ code: "invalid_body", details: { field } });
    }
    const notJson = await gw.app.request("/v1/webhook-endpoints", { method: "POST", headers: { authorization: basic, "content-type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
    const badLimit = await api("GET", `/v1/webhook-endpoints/whe_x/deliveries?limit=0`);
    expect(badLimit.res.status).toBe(400);
    expect((await api("GET", "/v1/webhook-endpoints")).body.data.length).toBe(before);
  });
});

describe("webhook delivery", () => {
  it("delivers a signed {type, timestamp, data} body that standardwebhooks verifies, once per event id", async () => {
    receiver = await startReceiver();
    const ep = await endpoint();
    const e = event("batch.started", { total_count: 3 });
    await gw.services.events.emit(e);
    await gw.services.events.emit(e); // the same event again (a producer's retry): delivered once
    const [got] = await waitFor("the delivery", () => receiver.received.length >= 1 && receiver.received);
    const payload = verifyWith(ep.secret, got);
    expect(payload).toEqual({ type: "batch.started", timestamp: new Date(e.createdAt).toISOString(), data: { batch_id: "bat_1", total_count: 3 } });
    expect(got.headers["webhook-id"]).toBe(e.id);
    expect(got.headers["content-type"]).toBe("application/json");
    await waitFor("the attempt to be recorded", async () => (await attempts(ep.id)).data.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(1);
    const [a] = (await attempts(ep.id)).data;
    expect(a).toMatchObject({ event_id: e.id, event_type: "batch.started", attempt: 1, status_code: 200, error: null, outcome: "delivered", next_retry_at: null, manual: false });
    expect(a.delivery_id).toMatch(/^whd_/);
  });

  it("retries after a 500, a timeout and a 429 with Retry-After, and delivers on the 4th attempt; every attempt is listed", async () => {
    receiver = await startReceiver();
    receiver.answer({ status: 500 }, "hang", { status: 429, headers: { "retry-after": "1" } });
    const ep = await endpoint();
    const e = event("batch.completed", { succeeded_count: 2, failed_count: 1 });
    await gw.services.events.emit(e);
    await waitFor("four attempts", () => receiver.received.length >= 4);
    for (const r of receiver.received) {
      expect(r.headers["webhook-id"]).toBe(e.id);
      expect(verifyWith(ep.secret, r).type).toBe("batch.completed");
    }
    const at = receiver.received.map((r) => r.at);
    // Backoff honoured: each retry waits at least its delay (50 ms; 400 ms timeout; Retry-After 1 s).
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(45);
    expect(at[3] - at[2]).toBeGreaterThanOrEqual(950);
    const list = await waitFor("4 recorded attempts", async () => {
      const l = await attempts(ep.id);
      return l.data.length === 4 && l;
    });
    expect(list.data.map((a: Json) => [a.attempt, a.outcome, a.status_code])).toEqual([
      [4, "delivered", 200],
      [3, "retrying", 429],
      [2, "retrying", null],
      [1, "retrying", 500],
    ]);
    expect(list.data[2].error).toMatch(/timeout/);
    expect(list.data[1].next_retry_at).not.toBeNull();
    expect(Date.parse(list.data[1].next_retry_at) - Date.parse(list.data[1].attempted_at)).toBeGreaterThanOrEqual(1000);
    // Cursor paging, newest first.
    const p1 = await attempts(ep.id, "?limit=3");
    expect(p1.has_more).toBe(true);
    const p2 = await attempts(ep.id, `?limit=3&starting_after=${p1.data[2].id}`);
    expect(p2).toMatchObject({ has_more: false });
    expect([...p1.data, ...p2.data].map((a: Json) => a.id)).toEqual(list.data.map((a: Json) => a.id));
    const unknownCursor = await api("GET", `/v1/webhook-endpoints/${ep.id}/deliveries?starting_after=wha_nope`);
    expect(unknownCursor.res.status).toBe(400);
    expect(unknownCursor.body.error).toMatchObject({ code: "invalid_body", details: { field: "query.starting_after" } });
  });

  it("gives up after the last retry: the delivery is failed", async () => {
    receiver = await startReceiver({ status: 503 });
    const ep = await endpoint();
    await gw.services.events.emit(event("batch.completed"));
    const list = await waitFor("5 attempts", async () => {
      const l = await attempts(ep.id);
      return l.data.length === 5 && l.data[0].outcome === "failed" && l;
    });
    expect(list.data.map((a: Json) => a.outcome)).toEqual(["failed", "retrying", "retrying", "retrying", "retrying"]);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(5);
    const m = await gw.services.store.webhooks.getMessage(list.data[0].delivery_id);
    expect(m).toMatchObject({ status: "failed", dueAt: null });
  });

  it("disables the endpoint on 410 Gone and sends it nothing more", async () => {
    receiver = await startReceiver({ status: 410 });
    const ep = await endpoint();
    await gw.services.events.emit(event("batch.started"));
    await waitFor("the endpoint disabled", async () => (await api("GET", `/v1/webhook-endpoints/${ep.id}`)).body.status === "disabled");
    const got = (await api("GET", `/v1/webhook-endpoints/${ep.id}`)).body;
    expect(got.disabled_reason).toMatch(/410/);
    const [a] = (await attempts(ep.id)).data;
    expect(a).toMatchObject({ status_code: 410, outcome: "endpoint_disabled", next_retry_at: null });
    await gw.services.events.emit(event("batch.completed"));
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(1);
    const resend = await api("POST", `/v1/webhook-endpoints/${ep.id}/deliveries/${a.delivery_id}/resend`);
    expect(resend.res.status).toBe(409);
    expect(resend.body.error.code).toBe("webhook_endpoint_disabled");
  });

  it("does not deliver item events to an endpoint that switched them off, nor types it did not ask for", async () => {
    receiver = await startReceiver();
    const noItems = await endpoint({ item_events: false }, "/no-items");
    expect(noItems.events).toEqual(["batch.started", "batch.completed"]);
    const onlyFailed = await endpoint({ events: ["batch.item.failed"] }, "/only-failed");
    await gw.services.events.emit(event("batch.item.completed", { item_index: 0 }));
    await gw.services.events.emit(event("batch.item.failed", { item_index: 1 }));
    await gw.services.events.emit(event("batch.completed"));
    await waitFor("two deliveries", () => receiver.received.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    const byPath = (p: string) => receiver.received.filter((r) => r.path === p);
    expect(byPath("/no-items").map((r) => verifyWith(noItems.secret, r).type)).toEqual(["batch.completed"]);
    expect(byPath("/only-failed").map((r) => verifyWith(onlyFailed.secret, r).type)).toEqual(["batch.item.failed"]);
    // Another client's events never reach this client's endpoints.
    await gw.services.events.emit(event("batch.completed", {}, gw.creds.clients[1].client_id));
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(2);
  });

  it("re-sends a delivery by hand with the same webhook-id", async () => {
    receiver = await startReceiver();
    const ep = await endpoint();
    const e = event("batch.completed");
    await gw.services.events.emit(e);
    await waitFor("the first delivery", async () => (await attempts(ep.id)).data.length === 1);
    const [first] = (await attempts(ep.id)).data;
    const resend = await api("POST", `/v1/webhook-endpoints/${ep.id}/deliveries/${first.delivery_id}/resend`);
    expect(resend.res.status).toBe(202);
    expect(resend.body).toMatchObject({ id: first.delivery_id, event_id: e.id });
    await waitFor("the second delivery", () => receiver.received.length >= 2);
    expect(receiver.received.map((r) => r.headers["webhook-id"])).toEqual([e.id, e.id]);
    for (const r of receiver.received) verifyWith(ep.secret, r);
    const list = await waitFor("2 attempts", async () => {
      const l = await attempts(ep.id);
      return l.data.length === 2 && l;
    });
    expect(list.data[0]).toMatchObject({ attempt: 2, manual: true, outcome: "delivered" });
    const unknown = await api("POST", `/v1/webhook-endpoints/${ep.id}/deliveries/whd_nope/resend`);
    expect(unknown.res.status).toBe(404);
    const theirs = await api("POST", `/v1/webhook-endpoints/${ep.id}/deliveries/${first.delivery_id}/resend`, undefined, otherBasic);
    expect(theirs.res.status).toBe(404);
  });

  it("rotates the secret: during the grace period both secrets verify; with no grace only the new one", async () => {
    receiver = await startReceiver();
    const ep = await endpoint();
    const rotated = await api("POST", `/v1/webhook-endpoints/${ep.id}/rotate-secret`);
    expect(rotated.res.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(ep.secret);
    expect(rotated.body.previous_secret_expires_at).not.toBeNull();
    await gw.services.events.emit(event("batch.started"));
    const [during] = await waitFor("a delivery", () => receiver.received.length >= 1 && receiver.received);
    expect(during.headers["webhook-signature"].split(" ")).toHaveLength(2);
    verifyWith(rotated.body.secret, during);
    verifyWith(ep.secret, during);

    const again = await api("POST", `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { grace_period_seconds: 0 });
    expect(again.body.previous_secret_expires_at).toBeNull();
    await gw.services.events.emit(event("batch.completed"));
    await waitFor("a second delivery", () => receiver.received.length >= 2);
    const after = receiver.received[1];
    verifyWith(again.body.secret, after);
    expect(() => verifyWith(rotated.body.secret, after)).toThrow();
    expect((await api("POST", `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { grace_period_seconds: -1 })).res.status).toBe(400);
    expect(gw.logs.join("")).not.toContain(again.body.secret.slice(6));
  });
});

describe("webhook URLs without WEBHOOK_ALLOW_PRIVATE_URLS", () => {
  it("refuses http, private, loopback, link-local and local-name URLs with webhook_url_not_allowed", async () => {
    const strict = await makeGateway({ env: { WEBHOOK_SECRET_KEY: "k".repeat(40) } });
    try {
      const c = strict.creds.clients[0];
      const auth = `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}`;
      for (const url of [
        "http://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://2130706433/",
        "https://localhost/",
        "https://api.localhost/",
        "https://intranet/",
        "https://user:pw@93.184.216.34/",
        "ftp://93.184.216.34/",
      ]) {
        const res = await strict.app.request("/v1/webhook-endpoints", {
          method: "POST",
          headers: { authorization: auth, "content-type": "application/json" },
          body: JSON.stringify({ url }),
        });
        const body = (await res.json()) as Json;
        expect(res.status, url).toBe(422);
        expect(body.error).toMatchObject({ code: "webhook_url_not_allowed", details: { field: "url" } });
      }
      const ok = await strict.app.request("/v1/webhook-endpoints", {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json" },
        body: JSON.stringify({ url: "https://93.184.216.34/hook" }),
      });
      expect(ok.status).toBe(201);
      expect(await strict.services.store.webhooks.listEndpoints(Number(c.client_id))).toHaveLength(1);
    } finally {
      await strict.services.store.close();
    }
  });
});
