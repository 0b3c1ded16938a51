/**
 * Asynchronous batches and webhooks together, in one process: a /v1/batches batch run by the real
 * runner (timer-driven background runner, real SQLite file) emits its events into the real webhook
 * outbox, which delivers them to a real HTTP receiver on 127.0.0.1. Every delivery is verified with
 * the independent `standardwebhooks` package.
 */
import { afterEach, expect, it } from "vitest";
import type { EventSink } from "../../src/ports/events.js";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";
import { startReceiver, verifyWith, waitFor, type Receiver, type Received } from "../helpers/webhook-receiver.js";

let gw: TestGateway | undefined;
const receivers: Receiver[] = [];

afterEach(async () => {
  await gw?.services.background.stop();
  await gw?.services.store.close();
  gw = undefined;
  for (const r of receivers.splice(0)) await r.close();
});

async function start() {
  gw = await makeGateway({
    file: true,
    env: { WEBHOOK_ALLOW_PRIVATE_URLS: "true", WEBHOOK_RETRY_SCHEDULE: "50ms,50ms,50ms,50ms", WEBHOOK_TIMEOUT_MS: "5000", ASYNC_BATCH_SLICE: "2" },
  });
  gw.services.background.start();
  return gw;
}

async function receiver() {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

async function api(g: TestGateway, method: string, path: string, body?: unknown) {
  const c = g.creds.clients[0];
  const headers: Record<string, string> = { authorization: `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await g.app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { res, body: (await res.json()) as any };
}

async function endpoint(g: TestGateway, url: string, extra: Record<string, unknown> = {}) {
  const { res, body } = await api(g, "POST", "/v1/webhook-endpoints", { url, ...extra });
  expect(res.status).toBe(201);
  return body as { id: string; secret: string };
}

function payItem(g: TestGateway, i: number, amount = "1.00") {
  const from = g.creds.users[0];
  const to = g.creds.users[1];
  return {
    call: "/payment/create",
    authorization: from.access_token,
    reference_id: `ref-${i}`,
    idempotency_key: `key-${i}-${Math.random()}`,
    parameters: { from_wallet_id: from.wallets[0].wallet_id, to_wallet_id: to.wallets[0].wallet_id, amount, currency: "USD" },
    metadata: { n: i },
  };
}

/** The deliveries the receiver answered 2xx to, by event id (it answers 200 unless scripted). */
function byEvent(received: Received[], secret: string) {
  const out = new Map<string, { type: string; data: Record<string, any> }[]>();
  for (const r of received) {
    const payload = verifyWith(secret, r);
    const id = r.headers["webhook-id"];
    out.set(id, [...(out.get(id) ?? []), payload]);
  }
  return out;
}

it("a batch's events reach the endpoint signed: started, one per item with its reference and metadata, one digest; item events can be switched off", async () => {
  const g = await start();
  const all = await receiver();
  const quiet = await receiver();
  // The first delivery fails: it is retried, and the rest are not held up by it.
  all.answer({ status: 503 });
  const loud = await endpoint(g, `${all.url}/all`);
  const calm = await endpoint(g, `${quiet.url}/quiet`, { item_events: false });

  const items = [payItem(g, 0), payItem(g, 1, "999999.00"), payItem(g, 2), payItem(g, 3)];
  const out = await api(g, "POST", "/v1/batches", { label: "payroll", items, process: true });
  expect(out.res.status).toBe(202);
  const id = out.body.id as string;
  const expected = [`evt_${id}_started_0`, ...items.map((_, i) => `evt_${id}_${i}_1`), `evt_${id}_completed_0`];

  await waitFor("every event at the endpoint", () => expected.every((e) => all.received.some((r) => r.headers["webhook-id"] === e && r !== all.received[0])));
  await waitFor("started and the digest at the quiet endpoint", () => quiet.received.length >= 2);

  const got = byEvent(all.received, loud.secret);
  expect([...got.keys()].sort()).toEqual([...expected].sort());
  // One delivery per event, except the one the receiver refused once with 503.
  const refused = all.received[0].headers["webhook-id"];
  for (const [e, deliveries] of got) expect(deliveries, e).toHaveLength(e === refused ? 2 : 1);
  // The outbox holds one message per event for the endpoint, each delivered once.
  // (The receiver sees a request before the server records its answer: wait for the records.)
  const attempts = await waitFor("every delivery recorded", async () => {
    const data = (await api(g, "GET", `/v1/webhook-endpoints/${loud.id}/deliveries?limit=100`)).body.data as { event_id: string; outcome: string }[];
    return expected.every((e) => data.some((a) => a.event_id === e && a.outcome === "delivered")) && data;
  });
  for (const e of expected) expect(attempts.filter((a) => a.event_id === e && a.outcome === "delivered"), e).toHaveLength(1);

  expect(got.get(`evt_${id}_started_0`)![0]).toMatchObject({ type: "batch.started", data: { batch_id: id, label: "payroll", total_count: 4 } });
  items.forEach((_, i) => {
    const [e] = got.get(`evt_${id}_${i}_1`)!;
    expect(e.type).toBe(i === 1 ? "batch.item.failed" : "batch.item.completed");
    expect(e.data).toMatchObject({ batch_id: id, index: i, attempt: 1, reference_id: `ref-${i}`, metadata: { n: i }, call: "/payment/create", status: i === 1 ? "failed" : "succeeded" });
  });
  expect(got.get(`evt_${id}_completed_0`)![0]).toMatchObject({
    type: "batch.completed",
    data: { batch_id: id, status: "completed_with_failures", total_count: 4, succeeded_count: 3, failed_count: 1, cancelled_count: 0 },
  });
  for (const r of [...all.received, ...quiet.received]) expect(r.body).not.toContain(g.creds.users[0].access_token);

  const q = byEvent(quiet.received, calm.secret);
  expect([...q.keys()].sort()).toEqual([`evt_${id}_completed_0`, `evt_${id}_started_0`]);
  for (const deliveries of q.values()) expect(deliveries).toHaveLength(1);
}, 30_000);

it("an event whose emit was cut short after its outcome was stored is emitted later, and delivered once", async () => {
  const g = await start();
  const r = await receiver();
  const ep = await endpoint(g, `${r.url}/hook`);
  const deps = g.services.asyncBatches.deps as { events: EventSink };
  const outbox = deps.events;
  // The crash window: the outcomes are stored, then the outbox cannot be written (as if the
  // process died before the emit) for the first item events and the digest.
  let failItems = 3;
  let failDigest = 1;
  deps.events = {
    emit: async (e) => {
      if (e.type.startsWith("batch.item.") && failItems > 0) {
        failItems--;
        throw new Error("outbox unavailable");
      }
      if (e.type === "batch.completed" && failDigest > 0) {
        failDigest--;
        throw new Error("outbox unavailable");
      }
      await outbox.emit(e);
    },
  };

  const items = [payItem(g, 0), payItem(g, 1, "999999.00"), payItem(g, 2), payItem(g, 3), payItem(g, 4)];
  const out = await api(g, "POST", "/v1/batches", { items, process: true });
  const id = out.body.id as string;
  const expected = [`evt_${id}_started_0`, ...items.map((_, i) => `evt_${id}_${i}_1`), `evt_${id}_completed_0`];
  await waitFor("every event delivered", () => expected.every((e) => r.received.some((x) => x.headers["webhook-id"] === e)));
  expect(failItems).toBe(0);
  expect(failDigest).toBe(0);

  const got = byEvent(r.received, ep.secret);
  expect([...got.keys()].sort()).toEqual([...expected].sort());
  for (const [e, deliveries] of got) expect(deliveries, e).toHaveLength(1);
  expect(got.get(`evt_${id}_completed_0`)![0].data).toMatchObject({ succeeded_count: 4, failed_count: 1 });
  // Nothing is owed any more.
  expect(await g.services.store.batches.eventsOwed(id, 10)).toEqual({ items: [], digestRun: null });
}, 30_000);
