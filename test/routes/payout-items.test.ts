/**
 * Payout items in /v1/batches, the submit and read side, over a real SQLite file and the real
 * Redis: created with call items, echoed on results and views, every refusal (422 with the item's
 * index, 409 for a customer_transaction_id of another batch) storing nothing, and the
 * customer_batch_id / payout fields on events. Payout batches are not run here (their execution is
 * src/core/payout-items.ts): where an outcome is needed, it is recorded in the store as the payout
 * executor records one, and the runner's flush emits its event.
 */
import { SandboxRail } from "../../src/adapters/rails/sandbox.js";
import { afterEach, describe, expect, it } from "vitest";
import { AsyncBatchRunner } from "../../src/core/async-batch-runner.js";
import { terminalStatus } from "../../src/core/async-batches.js";
import type { GatewayEvent } from "../../src/ports/events.js";
import { systemClock } from "../../src/services.js";
import { makeGateway, type TestGateway } from "../helpers/gateway.js";
import { deleteRedisPrefix, REDIS_UP, REDIS_URL, REQUIRE_REDIS, uniquePrefix } from "../helpers/redis.js";

let gw: TestGateway | undefined;
let prefix: string | undefined;

afterEach(async () => {
  await gw?.services.background.stop();
  await gw?.services.store.close();
  if (prefix) await deleteRedisPrefix(prefix);
  gw = undefined;
  prefix = undefined;
});

type Kind = "sqlite" | "redis";

async function start(kind: Kind) {
  if (kind === "redis") {
    prefix = uniquePrefix("payout-items");
    gw = await makeGateway({ env: { STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, ASYNC_BATCH_MAX_ITEMS: "20" } });
  } else {
    gw = await makeGateway({ file: true, env: { ASYNC_BATCH_MAX_ITEMS: "20" } });
  }
  // The background runner is not started: payout items are not executed here.
  return gw;
}

function basic(g: TestGateway, which = 0) {
  const c = g.creds.clients[which];
  return `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}`;
}

async function req(g: TestGateway, method: string, path: string, body?: unknown, auth = basic(g)) {
  const headers: Record<string, string> = { authorization: auth };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await g.app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

let seq = 0;
function payout(g: TestGateway, over: Record<string, unknown> = {}) {
  const n = ++seq;
  return { type: "payout", user_id: g.creds.users[1].user_id, amount: "12.50", currency: "USD", rail: "paypal", idempotency_key: `pk-${n}-${Math.random()}`, ...over };
}

function callItem(g: TestGateway) {
  return { call: "/user", authorization: g.creds.users[0].access_token, reference_id: "who" };
}

const kinds: Kind[] = ["sqlite", ...(REDIS_UP || REQUIRE_REDIS ? (["redis"] as const) : [])];

describe.each(kinds)("payout items in /v1/batches (%s)", (kind) => {
  it("creates a batch of payout and call items; results and views echo what the contract names", async () => {
    const g = await start(kind);
    const recipient = g.creds.users[1].user_id;
    const first = payout(g, { amount: "10.5", customer_transaction_id: "inv-2026-001", reference_id: "r-0", metadata: { invoice: 1 } });
    const items = [
      first,
      callItem(g),
      payout(g, { user_id: g.creds.users[2].user_id, rail: "ach", currency: "EUR", amount: "3", destination: { routing_number: "021000021", account_number: "12345678" } }),
    ];
    const created = await req(g, "POST", "/v1/batches", { label: "march", customer_batch_id: "payroll:2026-03", items });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: "building", total_count: 3, customer_batch_id: "payroll:2026-03" });
    const id = created.body.id;
    expect((await req(g, "GET", `/v1/batches/${id}`)).body.customer_batch_id).toBe("payroll:2026-03");
    expect((await req(g, "GET", "/v1/batches")).body.data[0].customer_batch_id).toBe("payroll:2026-03");

    const results = (await req(g, "GET", `/v1/batches/${id}/results?include_request=true`)).body.data;
    expect(results[0]).toMatchObject({
      index: 0,
      type: "payout",
      call: "payout",
      customer_batch_id: "payroll:2026-03",
      customer_transaction_id: "inv-2026-001",
      user_id: recipient,
      amount: "10.50",
      currency: "USD",
      rail: "paypal",
      reference_id: "r-0",
      status: "pending",
      response: null,
      metadata: { invoice: 1 },
    });
    expect(results[0].request.parameters).toEqual({ user_id: recipient, amount: "10.50", currency: "USD", rail: "paypal", destination: null, customer_transaction_id: "inv-2026-001" });
    expect(results[1]).toMatchObject({ index: 1, type: "call", call: "/user", reference_id: "who" });
    expect(results[1]).not.toHaveProperty("customer_transaction_id");
    expect(results[1]).not.toHaveProperty("customer_batch_id");
    // Generated when omitted; the destination as given.
    expect(results[2].customer_transaction_id).toMatch(/^ctx_[0-9A-Z]{26}$/);
    expect(results[2]).toMatchObject({ type: "payout", amount: "3.00", currency: "EUR", rail: "ach", user_id: g.creds.users[2].user_id });
    expect(results[2].request.parameters.destination).toEqual({ routing_number: "021000021", account_number: "12345678" });
    expect(results[2].request.parameters.customer_transaction_id).toBe(results[2].customer_transaction_id);
    expect(JSON.stringify(results)).not.toContain(g.creds.users[0].access_token);

    // Stored as the contract says: call "payout", no token, the recipient as the item's user.
    const stored = (await g.services.store.batches.listItems(id, { limit: 10 })).items;
    expect(stored[0]).toMatchObject({ call: "payout", tokenHash: "", scopes: [], userId: recipient, customerTransactionId: "inv-2026-001", idempotencyKey: first.idempotency_key });
    expect(stored[1]).toMatchObject({ call: "/user", customerTransactionId: null });
    expect((await g.services.store.batches.getBatch(id))!.customerBatchId).toBe("payroll:2026-03");

    // Added later to a building batch, too.
    const added = await req(g, "POST", `/v1/batches/${id}/items`, { items: [payout(g, { customer_transaction_id: "inv-2026-002" })] });
    expect(added.status).toBe(200);
    expect(added.body.total_count).toBe(4);
    expect((await req(g, "GET", `/v1/batches/${id}/results?starting_after=2`)).body.data[0]).toMatchObject({ index: 3, customer_transaction_id: "inv-2026-002", customer_batch_id: "payroll:2026-03" });
  });

  it("generates customer_batch_id when omitted and refuses a malformed one", async () => {
    const g = await start(kind);
    const made = await req(g, "POST", "/v1/batches", {});
    expect(made.status).toBe(201);
    expect(made.body.customer_batch_id).toMatch(/^cbt_[0-9A-Z]{26}$/);
    for (const bad of ["", "has space", "x".repeat(101), "é"]) {
      const r = await req(g, "POST", "/v1/batches", { customer_batch_id: bad, items: [payout(g)] });
      expect(r.status, bad).toBe(400);
      expect(r.body.error).toMatchObject({ code: "invalid_body", details: { field: "body.customer_batch_id" } });
    }
    expect((await req(g, "GET", "/v1/batches")).body.data.map((b: any) => b.id)).toEqual([made.body.id]);
  });

  it("refuses each bad payout item with 422 naming its index and field, and stores nothing", async () => {
    const g = await start(kind);
    const { body: b } = await req(g, "POST", "/v1/batches", { items: [payout(g)] });
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ["no idempotency_key", payout(g, { idempotency_key: undefined }), "idempotency_key", /idempotency_key: is required on a payout item/],
      ["amount as a number", payout(g, { amount: 10 }), "amount", /amount: must be a decimal string/],
      ["amount with too many decimals", payout(g, { amount: "1.001" }), "amount", /amount: has more than 2 decimal places/],
      ["zero amount", payout(g, { amount: "0.00" }), "amount", /amount: must be greater than zero/],
      ["unsupported currency", payout(g, { currency: "XYZ" }), "currency", /currency: is not a supported currency/],
      ["unknown rail", payout(g, { rail: "wire" }), "rail", /rail: /],
      ["destination of another rail", payout(g, { rail: "ach", destination: { email: "a@example.com" } }), "destination.routing_number", /destination \(ach\): routing_number: /],
      ["extra destination field", payout(g, { rail: "paypal", destination: { email: "a@example.com", memo: "x" } }), "destination", /destination \(paypal\): unknown field "memo"/],
      ["bad destination field", payout(g, { rail: "venmo", destination: { handle: "nope" } }), "destination.handle", /destination \(venmo\): handle: must be a Venmo handle/],
      ["authorization on a payout item", payout(g, { authorization: g.creds.users[0].access_token }), "authorization", /takes no authorization/],
      ["malformed customer_transaction_id", payout(g, { customer_transaction_id: "no spaces please" }), "customer_transaction_id", /customer_transaction_id: must be 1 to 100 characters/],
      ["no recipient", payout(g, { user_id: undefined }), "user_id", /user_id: /],
      ["unknown type", { ...payout(g), type: "transfer" }, "type", /type must be "call" or "payout"/],
    ];
    for (const [what, bad, field, message] of cases) {
      // On add (index after the batch's item and the request's good first item) and on create (index 1).
      const add = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [payout(g), bad] });
      expect(add.status, what).toBe(422);
      expect(add.body.error, what).toMatchObject({ code: "invalid_batch_item", details: { index: 2, field } });
      expect(add.body.error.message, what).toMatch(message);
      expect(add.body.error.message, what).toMatch(/^items\[1\]: /);
      const create = await req(g, "POST", "/v1/batches", { idempotency_key: "after-fix", items: [payout(g), bad], process: true });
      expect(create.status, what).toBe(422);
      expect(create.body.error, what).toMatchObject({ code: "invalid_batch_item", details: { index: 1, field } });
    }
    expect(JSON.stringify(await req(g, "GET", `/v1/batches/${b.id}/results`))).not.toContain(g.creds.users[0].access_token);
    expect((await req(g, "GET", `/v1/batches/${b.id}`)).body.total_count).toBe(1);
    expect((await g.services.store.batches.listItems(b.id, { limit: 10 })).items).toHaveLength(1);
    expect((await req(g, "GET", "/v1/batches")).body.data.map((x: any) => x.id)).toEqual([b.id]);
    // A call item with a bad shape is refused the same way.
    const badCall = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [{ call: "/user", authorization: g.creds.users[0].access_token, extra: 1 }] });
    expect(badCall.status).toBe(422);
    expect(badCall.body.error).toMatchObject({ code: "invalid_batch_item", details: { index: 1 } });
    expect(badCall.body.error.message).toContain('unknown field "extra"');
    // "payout" is not a call a call item can name: only type "payout" makes a payout item, with its checks.
    const forged = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [{ call: "payout", parameters: { user_id: g.creds.users[1].user_id, amount: "1.00", currency: "USD", rail: "paypal" } }] });
    expect(forged.status).toBe(422);
    expect(forged.body.error).toMatchObject({ code: "invalid_batch_item", details: { index: 1 } });
    expect(forged.body.error.message).toContain('no call named "payout"');
    expect((await req(g, "GET", `/v1/batches/${b.id}`)).body.total_count).toBe(1);
    // The refused create's idempotency key was not taken.
    const fixed = await req(g, "POST", "/v1/batches", { idempotency_key: "after-fix", items: [payout(g)] });
    expect(fixed.status).toBe(201);
  });

  it("customer_transaction_id: twice in a request or batch is 422, used by another batch of the client 409; nothing stored", async () => {
    const g = await start(kind);
    const dup = await req(g, "POST", "/v1/batches", { items: [payout(g, { customer_transaction_id: "t-1" }), callItem(g), payout(g, { customer_transaction_id: "t-1" })] });
    expect(dup.status).toBe(422);
    expect(dup.body.error).toMatchObject({ code: "duplicate_customer_transaction_id", details: { index: 2, first_index: 0 } });
    expect((await req(g, "GET", "/v1/batches")).body.data).toEqual([]);

    const { body: a } = await req(g, "POST", "/v1/batches", { items: [payout(g), payout(g, { customer_transaction_id: "t-1" })] });
    expect(a.total_count).toBe(2);
    // Again in the same batch, in a later request: 422 naming the item it repeats.
    const again = await req(g, "POST", `/v1/batches/${a.id}/items`, { items: [payout(g, { customer_transaction_id: "t-2" }), payout(g, { customer_transaction_id: "t-1" })] });
    expect(again.status).toBe(422);
    expect(again.body.error).toMatchObject({ code: "duplicate_customer_transaction_id", details: { index: 3, first_index: 1 } });
    expect((await req(g, "GET", `/v1/batches/${a.id}`)).body.total_count).toBe(2);

    // In another batch of the client: 409, at create (no batch made) and at add (nothing added).
    const cross = await req(g, "POST", "/v1/batches", { idempotency_key: "bk", items: [payout(g, { customer_transaction_id: "t-2" }), payout(g, { customer_transaction_id: "t-1" })], process: true });
    expect(cross.status).toBe(409);
    expect(cross.body.error).toMatchObject({ code: "customer_transaction_id_in_use", details: { index: 1, batch_id: a.id, batch_index: 1 } });
    expect((await req(g, "GET", "/v1/batches")).body.data.map((x: any) => x.id)).toEqual([a.id]);
    const { body: c } = await req(g, "POST", "/v1/batches", {});
    const crossAdd = await req(g, "POST", `/v1/batches/${c.id}/items`, { items: [payout(g, { customer_transaction_id: "t-3" }), payout(g, { customer_transaction_id: "t-1" })] });
    expect(crossAdd.status).toBe(409);
    expect(crossAdd.body.error).toMatchObject({ code: "customer_transaction_id_in_use", details: { index: 1, batch_id: a.id, batch_index: 1 } });
    expect((await req(g, "GET", `/v1/batches/${c.id}`)).body.total_count).toBe(0);

    // The refused ids were not taken: t-2 and t-3 are free; the batch key "bk" too. Another client has its own ids.
    const ok = await req(g, "POST", "/v1/batches", { idempotency_key: "bk", items: [payout(g, { customer_transaction_id: "t-2" }), payout(g, { customer_transaction_id: "t-3" })] });
    expect(ok.status).toBe(201);
    const other = await req(g, "POST", "/v1/batches", { items: [payout(g, { customer_transaction_id: "t-1" })] }, basic(g, 1));
    expect(other.status).toBe(201);
    // An item idempotency key and a customer transaction id never collide.
    const mixed = await req(g, "POST", "/v1/batches", { items: [payout(g, { customer_transaction_id: "same-text", idempotency_key: "t-9" }), payout(g, { customer_transaction_id: "t-9", idempotency_key: "same-text" })] });
    expect(mixed.status).toBe(201);
  });

  it("events carry customer_batch_id, payout item events the payout fields, outcome and error code; retry and cancel work unchanged", async () => {
    const g = await start(kind);
    const seen: GatewayEvent[] = [];
    // The webhook outbox is another part: a recording sink stands in for it here.
    (g.services.asyncBatches.deps as { events: unknown }).events = { emit: async (e: GatewayEvent) => void seen.push(e) };
    const items = [payout(g, { customer_transaction_id: "ev-0", reference_id: "p0" }), payout(g, { customer_transaction_id: "ev-1", rail: "check" }), callItem(g)];
    const made = await req(g, "POST", "/v1/batches", { customer_batch_id: "cb-ev", items, process: true });
    expect(made.status).toBe(202);
    const id = made.body.id;
    expect(seen.map((e) => e.type)).toEqual(["batch.started"]);
    expect(seen[0].data).toMatchObject({ batch_id: id, customer_batch_id: "cb-ev", total_count: 3 });

    // Outcomes as the payout executor records them (its response carries outcome and error_code).
    const store = g.services.store.batches;
    const retained = { outcome: "retained_in_wallet", error_code: "RAIL_DECLINED", error_message: "declined", wallet_id: "wal_x", transfer_id: "pay_x", payout_id: "po_x", payout_status: "failed", customer_transaction_id: "ev-0" };
    const completed = { outcome: "completed", error_code: null, error_message: null, wallet_id: "wal_y", transfer_id: "pay_y", payout_id: "po_y", payout_status: "completed", customer_transaction_id: "ev-1" };
    const now = Date.now();
    await store.recordOutcomes(id, [{ index: 0, attempt: 1, status: "failed", httpStatus: 422, response: retained }, { index: 1, attempt: 1, status: "succeeded", httpStatus: 200, response: completed }], now, terminalStatus);
    await store.recordOutcomes(id, [{ index: 2, attempt: 1, status: "succeeded", httpStatus: 200, response: { user_id: "u" } }], now, terminalStatus);
    const runner = new AsyncBatchRunner({
      store,
      batches: g.services.asyncBatches,
      engine: g.services.engine,
      treasury: g.services.store.treasury,
      ledger: g.services.store.ledger,
      rails: new SandboxRail(),
      sha256Hex: (t) => g.services.auth.hash(t),
      clock: systemClock,
      logger: g.services.logger,
      options: { concurrency: 1, ratePerClient: 100, sliceSize: 10, railTimeoutMs: 1000 },
    });
    await runner.flushEvents(id);
    const byId = new Map(seen.map((e) => [e.id, e]));
    expect(byId.get(`evt_${id}_0_1`)).toMatchObject({
      type: "batch.item.failed",
      data: { batch_id: id, customer_batch_id: "cb-ev", index: 0, type: "payout", reference_id: "p0", customer_transaction_id: "ev-0", user_id: g.creds.users[1].user_id, amount: "12.50", currency: "USD", rail: "paypal", outcome: "retained_in_wallet", error_code: "RAIL_DECLINED", response: retained },
    });
    expect(byId.get(`evt_${id}_1_1`)).toMatchObject({ type: "batch.item.completed", data: { customer_transaction_id: "ev-1", rail: "check", outcome: "completed", error_code: null } });
    const callEvent = byId.get(`evt_${id}_2_1`)!;
    expect(callEvent.data).toMatchObject({ customer_batch_id: "cb-ev", type: "call", call: "/user" });
    expect(callEvent.data).not.toHaveProperty("outcome");
    expect(byId.get(`evt_${id}_completed_0`)).toMatchObject({ type: "batch.completed", data: { customer_batch_id: "cb-ev", status: "completed_with_failures" } });

    // The results show the executor's response; retry re-attempts the failed payout item.
    const failed = (await req(g, "GET", `/v1/batches/${id}/results?status=failed`)).body.data;
    expect(failed).toMatchObject([{ index: 0, type: "payout", customer_transaction_id: "ev-0", http_status: 422, response: retained }]);
    const retry = await req(g, "POST", `/v1/batches/${id}/retry`, { items: [0, 1] });
    expect(retry.status).toBe(202);
    expect(retry.body.items).toEqual([
      { index: 0, reference_id: "p0", outcome: "RETRYING", attempt: 2 },
      { index: 1, reference_id: null, outcome: "ALREADY_COMPLETED", attempt: 1 },
    ]);
    expect(seen.at(-1)).toMatchObject({ id: `evt_${id}_started_1`, data: { customer_batch_id: "cb-ev" } });
    const cancelled = await req(g, "POST", `/v1/batches/${id}/cancel`);
    expect(cancelled.body).toMatchObject({ status: "cancelled", customer_batch_id: "cb-ev", cancelled_count: 1 });
    expect((await req(g, "GET", `/v1/batches/${id}/results?status=cancelled`)).body.data).toMatchObject([{ index: 0, type: "payout", attempt: 2 }]);
  });
});
