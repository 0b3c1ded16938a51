/**
 * /v1/batches in process, over a real SQLite file and the timer-driven background runner: the
 * lifecycle (create, add, process, poll, results, retry, cancel, list), the rules (limits,
 * idempotency keys, expiry, state conflicts) and the v1 error shape.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { EventSink, GatewayEvent } from "../../src/ports/events.js";
import { issueTokenInto, makeGateway, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;

afterEach(async () => {
  await gw?.services.background.stop();
});

async function start(env: Record<string, string> = {}) {
  gw = await makeGateway({ file: true, env: { ASYNC_BATCH_MAX_ITEMS: "20", ...env } });
  gw.services.background.start();
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
  return { res, body: (await res.json()) as any };
}

function payItem(g: TestGateway, i: number, amount = "1.00", user = 0) {
  const from = g.creds.users[user];
  const to = g.creds.users[(user + 1) % g.creds.users.length];
  return {
    call: "/payment/create",
    authorization: from.access_token,
    reference_id: `ref-${i}`,
    idempotency_key: `key-${i}-${Math.random()}`,
    parameters: { from_wallet_id: from.wallets[0].wallet_id, to_wallet_id: to.wallets[0].wallet_id, amount, currency: "USD" },
    metadata: { n: i },
  };
}

async function waitFor(g: TestGateway, id: string, pred: (b: any) => boolean) {
  for (let i = 0; i < 1200; i++) {
    const { body } = await req(g, "GET", `/v1/batches/${id}`);
    if (pred(body)) return body;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`batch ${id} never reached the expected state`);
}

describe("/v1/batches", () => {
  it("builds, processes in the background, reports counts and paged results without tokens", async () => {
    const g = await start();
    const created = await req(g, "POST", "/v1/batches", { label: "payroll", metadata: { period: "2026-03" }, idempotency_key: "b-1" });
    expect(created.res.status).toBe(201);
    expect(created.body).toMatchObject({ status: "building", label: "payroll", total_count: 0, metadata: { period: "2026-03" } });
    const again = await req(g, "POST", "/v1/batches", { label: "other", idempotency_key: "b-1" });
    expect(again.res.status).toBe(200);
    expect(again.body.id).toBe(created.body.id);

    const id = created.body.id;
    const items = [payItem(g, 0), payItem(g, 1), payItem(g, 2, "999999.00")];
    const added = await req(g, "POST", `/v1/batches/${id}/items`, { items });
    expect(added.res.status).toBe(200);
    expect(added.body.total_count).toBe(3);

    const processed = await req(g, "POST", `/v1/batches/${id}/process`);
    expect(processed.res.status).toBe(202);
    expect(processed.body.status).toBe("processing");
    expect(processed.body.submitted_at).not.toBeNull();

    const done = await waitFor(g, id, (b) => b.status !== "processing");
    expect(done).toMatchObject({ status: "completed_with_failures", total_count: 3, succeeded_count: 2, failed_count: 1, percent_done: 100 });
    expect(done.completed_at).not.toBeNull();
    const again409 = await req(g, "POST", `/v1/batches/${id}/process`);
    expect(again409.res.status).toBe(422);

    const page1 = await req(g, "GET", `/v1/batches/${id}/results?limit=2&include_request=true`);
    expect(page1.body.has_more).toBe(true);
    expect(page1.body.data.map((r: any) => r.index)).toEqual([0, 1]);
    expect(page1.body.data[0]).toMatchObject({ status: "succeeded", reference_id: "ref-0", metadata: { n: 0 }, http_status: 200 });
    expect(page1.body.data[0].request.parameters.amount).toBe("1.00");
    expect(JSON.stringify(page1.body)).not.toContain(g.creds.users[0].access_token);
    const page2 = await req(g, "GET", `/v1/batches/${id}/results?starting_after=1`);
    expect(page2.body.data.map((r: any) => r.index)).toEqual([2]);
    expect(page2.body.data[0]).toMatchObject({ status: "failed", http_status: 422, response: { error: "insufficient_funds" } });
    expect(page2.body.data[0].request).toBeUndefined();
    const failedOnly = await req(g, "GET", `/v1/batches/${id}/results?status=failed`);
    expect(failedOnly.body.data.map((r: any) => r.index)).toEqual([2]);

    // Ledger: exactly the two succeeded payments moved money.
    const payId = page1.body.data[0].response.payment_id;
    expect(await g.services.store.ledger.getPayment(payId)).toMatchObject({ amount: 100 });

    // Retry: the failed item gets attempt 2 (fails again), the succeeded ones answer ALREADY_COMPLETED.
    const retry = await req(g, "POST", `/v1/batches/${id}/retry`, { items: [0, 2] });
    expect(retry.res.status).toBe(202);
    expect(retry.body.items).toEqual([
      { index: 0, reference_id: "ref-0", outcome: "ALREADY_COMPLETED", attempt: 1 },
      { index: 2, reference_id: "ref-2", outcome: "RETRYING", attempt: 2 },
    ]);
    await waitFor(g, id, (b) => b.status !== "processing");
    const item2 = (await req(g, "GET", `/v1/batches/${id}/results?status=failed`)).body.data[0];
    expect(item2.attempt).toBe(2);
    expect(item2.attempts.map((a: any) => [a.attempt, a.status])).toEqual([
      [1, "failed"],
      [2, "failed"],
    ]);
  });

  it("create with items and process: true answers 202 and runs them", async () => {
    const g = await start();
    const out = await req(g, "POST", "/v1/batches", { items: [payItem(g, 0), { call: "/user", authorization: g.creds.users[1].access_token }], process: true });
    expect(out.res.status).toBe(202);
    expect(out.body.status).toBe("processing");
    const done = await waitFor(g, out.body.id, (b) => b.status !== "processing");
    expect(done).toMatchObject({ status: "completed", succeeded_count: 2 });
  });

  it("refuses bad credentials, bad items, duplicate keys, over-limit batches, and leaves nothing behind", async () => {
    const g = await start();
    const noAuth = await g.app.request("/v1/batches", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(noAuth.status).toBe(401);
    expect(((await noAuth.json()) as any).error.code).toBe("invalid_client");
    const wrong = await req(g, "GET", "/v1/batches", undefined, `Basic ${btoa(`${g.creds.clients[0].client_id}:nope`)}`);
    expect(wrong.res.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: "invalid_client" });

    const { body: b } = await req(g, "POST", "/v1/batches", {});
    const dup = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [{ ...payItem(g, 0), idempotency_key: "same" }, payItem(g, 1), { ...payItem(g, 2), idempotency_key: "same" }] });
    expect(dup.res.status).toBe(422);
    expect(dup.body.error).toMatchObject({ code: "duplicate_item_idempotency_key", details: { index: 2, first_index: 0 } });

    const badToken = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [payItem(g, 0), { ...payItem(g, 1), authorization: "at_nope" }] });
    expect(badToken.res.status).toBe(422);
    expect(badToken.body.error).toMatchObject({ code: "invalid_batch_item", details: { index: 1, reason: "invalid_token" } });
    const badParams = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [{ ...payItem(g, 0), parameters: { amount: "x" } }] });
    expect(badParams.res.status).toBe(422);
    const unknown = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [{ call: "/nope" }] });
    expect(unknown.body.error.code).toBe("invalid_batch_item");
    expect((await req(g, "GET", `/v1/batches/${b.id}`)).body.total_count).toBe(0);

    const empty = await req(g, "POST", `/v1/batches/${b.id}/process`);
    expect(empty.res.status).toBe(422);
    expect(empty.body.error.code).toBe("batch_not_processable");

    const tooMany = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: Array.from({ length: 21 }, (_, i) => payItem(g, i)) });
    expect(tooMany.res.status).toBe(422);
    expect(tooMany.body.error.code).toBe("batch_too_large");

    // A key used in another batch of the same client: 409; another client may use it.
    const first = await req(g, "POST", `/v1/batches/${b.id}/items`, { items: [{ ...payItem(g, 0), idempotency_key: "shared" }] });
    expect(first.res.status).toBe(200);
    const { body: b2 } = await req(g, "POST", "/v1/batches", {});
    const cross = await req(g, "POST", `/v1/batches/${b2.id}/items`, { items: [payItem(g, 5), { ...payItem(g, 1), idempotency_key: "shared" }] });
    expect(cross.res.status).toBe(409);
    expect(cross.body.error).toMatchObject({ code: "item_idempotency_key_in_use", details: { index: 1, batch_id: b.id, batch_index: 0 } });
    expect((await req(g, "GET", `/v1/batches/${b2.id}`)).body.total_count).toBe(0);

    // Another client cannot see the batch.
    const other = await req(g, "GET", `/v1/batches/${b.id}`, undefined, basic(g, 1));
    expect(other.res.status).toBe(404);
    expect(other.body.error.code).toBe("not_found");
  });

  it("a create whose items are refused creates nothing: the same idempotency key works once fixed", async () => {
    const g = await start();
    const { body: first } = await req(g, "POST", "/v1/batches", { items: [{ ...payItem(g, 0), idempotency_key: "taken" }] });
    const refused = await req(g, "POST", "/v1/batches", { idempotency_key: "bk", items: [payItem(g, 1), { ...payItem(g, 2), idempotency_key: "taken" }], process: true });
    expect(refused.res.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "item_idempotency_key_in_use", details: { index: 1, batch_id: first.id, batch_index: 0 } });
    const list = await req(g, "GET", "/v1/batches");
    expect(list.body.data.map((b: any) => b.id)).toEqual([first.id]);
    const fixed = await req(g, "POST", "/v1/batches", { idempotency_key: "bk", items: [payItem(g, 1)], process: true });
    expect(fixed.res.status).toBe(202);
    expect(fixed.body.total_count).toBe(1);
  });

  it("emits batch.started, one event per item and one batch.completed digest, with deterministic ids and no token", async () => {
    const g = await start();
    const seen: GatewayEvent[] = [];
    // The webhook outbox is another part: a recording sink stands in for it here.
    (g.services.asyncBatches.deps as { events: EventSink }).events = { emit: async (e) => void seen.push(e) };
    const out = await req(g, "POST", "/v1/batches", { items: [payItem(g, 0), payItem(g, 1, "999999.00")], process: true });
    const id = out.body.id;
    const done = await waitFor(g, id, (b) => b.status !== "processing");
    expect(done.status).toBe("completed_with_failures");
    expect(seen.map((e) => [e.id, e.type])).toEqual([
      [`evt_${id}_started_0`, "batch.started"],
      [`evt_${id}_0_1`, "batch.item.completed"],
      [`evt_${id}_1_1`, "batch.item.failed"],
      [`evt_${id}_completed_0`, "batch.completed"],
    ]);
    expect(seen[1].data).toMatchObject({ batch_id: id, index: 0, reference_id: "ref-0", metadata: { n: 0 }, status: "succeeded", http_status: 200 });
    expect(seen[3].data).toMatchObject({ status: "completed_with_failures", total_count: 2, succeeded_count: 1, failed_count: 1 });
    expect(seen.every((e) => e.clientId === g.creds.clients[0].client_id)).toBe(true);
    expect(JSON.stringify(seen)).not.toContain(g.creds.users[0].access_token);
  });

  it("takes bodies up to the larger limit on /v1/batches only", async () => {
    const g = await start({ MAX_BODY_BYTES: "2048", ASYNC_BATCH_MAX_BODY_BYTES: "65536" });
    const big = { label: "x", metadata: { pad: "p".repeat(10_000) } };
    const ok = await req(g, "POST", "/v1/batches", big);
    expect(ok.res.status).toBe(201);
    const classic = await g.app.request("/batch/create", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ calls: [], pad: "p".repeat(10_000) }) });
    expect(classic.status).toBe(413);
    const huge = await req(g, "POST", "/v1/batches", { metadata: { pad: "p".repeat(70_000) } });
    expect(huge.res.status).toBe(413);
    expect(huge.body.error.code).toBe("body_too_large");
  });

  it("a token revoked after the item was added fails that item invalid_token", async () => {
    const g = await start();
    const u = g.creds.users[0];
    const token = await issueTokenInto(g.services.store, u.user_id, ["payments:write", "user:read"]);
    const { body: b } = await req(g, "POST", "/v1/batches", { items: [{ call: "/user", authorization: token }, { call: "/user", authorization: u.access_token }] });
    const hash = await g.services.auth.hash(token);
    // Revocation is the TokenStore's; this store has no revoke yet, so the record is replaced (fixture).
    const db = (g.services.store as any).db;
    db.run("UPDATE tokens SET revoked = 1 WHERE token_hash = ?", [hash]);
    await req(g, "POST", `/v1/batches/${b.id}/process`);
    const done = await waitFor(g, b.id, (x) => x.status !== "processing");
    expect(done).toMatchObject({ status: "completed_with_failures", succeeded_count: 1, failed_count: 1 });
    const failed = (await req(g, "GET", `/v1/batches/${b.id}/results?status=failed`)).body.data[0];
    expect(failed).toMatchObject({ index: 0, response: { error: "invalid_token" } });
  });

  it("cancel, expiry, list paging and status filter", async () => {
    const g = await start({ ASYNC_BATCH_EXPIRY_S: "1" });
    const ids: string[] = [];
    // Ids order by creation time in ms (within one ms, by their random part): a ms apart each.
    for (let i = 0; i < 3; i++) {
      ids.push((await req(g, "POST", "/v1/batches", { label: `b${i}` })).body.id);
      await new Promise((r) => setTimeout(r, 3));
    }
    const cancelled = await req(g, "POST", `/v1/batches/${ids[0]}/cancel`);
    expect(cancelled.body.status).toBe("cancelled");
    expect((await req(g, "POST", `/v1/batches/${ids[0]}/cancel`)).res.status).toBe(409);

    const page = await req(g, "GET", "/v1/batches?limit=2");
    expect(page.body.data.map((b: any) => b.id)).toEqual([ids[2], ids[1]]);
    expect(page.body.has_more).toBe(true);
    const next = await req(g, "GET", `/v1/batches?limit=2&starting_after=${ids[1]}`);
    expect(next.body.data.map((b: any) => b.id)).toEqual([ids[0]]);
    const prev = await req(g, "GET", `/v1/batches?limit=5&ending_before=${ids[0]}`);
    expect(prev.body.data.map((b: any) => b.id)).toEqual([ids[2], ids[1]]);
    const onlyCancelled = await req(g, "GET", "/v1/batches?status=cancelled");
    expect(onlyCancelled.body.data.map((b: any) => b.id)).toEqual([ids[0]]);
    expect((await req(g, "GET", "/v1/batches?limit=0")).res.status).toBe(400);

    await req(g, "POST", `/v1/batches/${ids[1]}/items`, { items: [payItem(g, 0)] });
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await req(g, "POST", `/v1/batches/${ids[1]}/process`);
    expect(expired.res.status).toBe(422);
    expect(expired.body.error.message).toContain("expired");
    expect((await req(g, "GET", `/v1/batches/${ids[1]}`)).body.status).toBe("expired");
    const late = await req(g, "POST", `/v1/batches/${ids[1]}/items`, { items: [payItem(g, 1)] });
    expect(late.res.status).toBe(422);
    expect((await req(g, "POST", `/v1/batches/${ids[2]}/cancel`)).res.status).toBe(409);
  });
});
