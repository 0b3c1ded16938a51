/**
 * The HTTP contract suite: one set of tests, run over real HTTP against every runtime (the Node
 * server and the local worker, see *.contract.test.ts). Each runtime gets two gateway processes,
 * shared by the tests: `main` (limits out of the way, upstream handlers declared) and `tight`
 * (small rate limits).
 *
 * Tests on `main` share its state, so each uses its own demo users where money is involved:
 * users 0–3 for the general tests, 4–5 as untouched bystanders, 6–11 for the conservation burst,
 * 12–13 for asynchronous batches, 14–15 for mass payouts.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoCredentials } from "../../src/demo-data.js";
import { METRICS } from "../../src/ports/metrics.js";
import { diffOf, parseExposition, sampleOf, type Samples } from "../helpers/prometheus.js";
import type { ContractRuntime, ContractTarget, StartTarget } from "./target.js";
import { definePaymentsBatchContract } from "./payments-batch.js";
import { startReceiver, verifyWith, waitFor } from "../helpers/webhook-receiver.js";

type Json = any;
type User = DemoCredentials["users"][number];
type Client = DemoCredentials["clients"][number];

const MAIN_USERS = 16;
/** The operator key both targets are configured with (GET /metrics, /admin/v1). */
const ADMIN_KEY = "contract-admin-key-0123456789abcdef";
const TIGHT = {
  ADMIN_API_KEY: ADMIN_KEY,
  CLIENT_RATE_LIMIT_POINTS: "20",
  CLIENT_RATE_LIMIT_WINDOW_S: "3600",
  TOKEN_RATE_LIMIT_POINTS: "5",
  TOKEN_RATE_LIMIT_WINDOW_S: "3600",
  RATE_LIMIT_COST: "call",
  // Webhooks to a receiver on loopback, with short retries.
  WEBHOOK_SECRET_KEY: "contract-tight-webhook-key-".padEnd(44, "t"),
  WEBHOOK_ALLOW_PRIVATE_URLS: "true",
  WEBHOOK_RETRY_SCHEDULE: "200ms,200ms,200ms",
  WEBHOOK_TIMEOUT_MS: "2000",
};

/** "12.34" → 1234 (USD), without floats. */
export function toMinor(amount: string): number {
  const m = /^(\d+)\.(\d{2})$/.exec(amount);
  if (!m) throw new Error(`not a USD amount: ${amount}`);
  return Number(m[1]) * 100 + Number(m[2]);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** A small upstream service on loopback that the gateway's upstream handlers call. */
function startUpstream() {
  const seen: { path: string; auth: string | undefined; requestId: string | undefined; body: Json }[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    let body: Json = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    seen.push({ path: req.url!, auth: req.headers.authorization, requestId: req.headers["x-request-id"] as string | undefined, body });
    const send = (status: number, payload: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(payload);
    };
    if (req.url === "/checkout") return send(200, JSON.stringify({ checkout_id: 77, echo: body }));
    if (req.url === "/denied") return send(403, JSON.stringify({ error: "access_denied", error_description: "this account can no longer transact", error_code: 3004 }));
    if (req.url === "/broken") return send(500, "<html>oops</html>");
    if (req.url === "/not-json") return send(200, "plain text");
    if (req.url === "/slow") return void setTimeout(() => send(200, "{}"), 3000).unref();
    return send(404, "{}");
  });
  const ready = new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { seen, ready, close };
}

function upstreamsDoc(base: string) {
  return {
    upstreams: [
      { call: "/checkout/create", url: `${base}/checkout`, timeout_ms: 5000 },
      { call: "/checkout/denied", url: `${base}/denied` },
      { call: "/checkout/broken", url: `${base}/broken` },
      { call: "/checkout/text", url: `${base}/not-json` },
      { call: "/checkout/slow", url: `${base}/slow`, timeout_ms: 200 },
      { call: "/status/public", url: `${base}/checkout`, auth: "none" },
      { call: "/checkout/down", url: "http://127.0.0.1:9/nothing-listens-here" },
    ],
  };
}

/** The main target's operator key (a worker var, a Node environment variable). */

export function defineContractSuite(runtime: ContractRuntime, start: StartTarget) {
  definePaymentsBatchContract(runtime, start);
  let main: ContractTarget;
  let tight: ContractTarget;
  const upstream = startUpstream();

  beforeAll(async () => {
    const upstreamBase = await upstream.ready;
    const started = await Promise.allSettled([
      start({
        users: MAIN_USERS,
        env: { CLIENT_RATE_LIMIT_POINTS: "1000000", TOKEN_RATE_LIMIT_POINTS: "1000000", ADMIN_API_KEY: ADMIN_KEY, WEBHOOK_SECRET_KEY: "contract-webhook-key-".padEnd(44, "k") },
        upstreams: upstreamsDoc(upstreamBase),
      }),
      start({ users: 6, env: TIGHT }),
    ]);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    [main, tight] = started.map((s) => (s as PromiseFulfilledResult<ContractTarget>).value);
    expect(main.runtime).toBe(runtime);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([main?.stop(), tight?.stop(), upstream.close()]);
  }, 60_000);

  // --- helpers over real HTTP ---

  async function raw(t: ContractTarget, path: string, body: string | undefined, headers: Record<string, string> = { "content-type": "application/json" }, method = "POST") {
    const res = await fetch(`${t.base}${path}`, { method, headers, body });
    const text = await res.text();
    let json: Json = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { res, body: json, text };
  }

  /**
   * A POST on a connection of its own, closed afterwards. For oversize bodies: the Node server
   * answers 413 without reading the rest of the body and then drops the connection although it
   * said keep-alive, which would break the next request of a pooled client.
   */
  function rawIsolated(t: ContractTarget, path: string, body: string, headers: Record<string, string>) {
    return new Promise<{ res: Response; body: Json; text: string }>((resolve, reject) => {
      const req = httpRequest(`${t.base}${path}`, { method: "POST", agent: false, headers: { ...headers, connection: "close", "content-length": Buffer.byteLength(body) } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          let json: Json = undefined;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ res: new Response(text, { status: res.statusCode, headers: h }), body: json, text });
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  function batch(t: ContractTarget, calls: unknown[], opts: { client?: Client; extra?: Record<string, unknown>; path?: string; headers?: Record<string, string> } = {}) {
    const c = opts.client ?? t.creds.clients[0];
    return raw(t, opts.path ?? "/batch/create", JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls, ...opts.extra }), {
      "content-type": "application/json",
      ...opts.headers,
    });
  }

  function single(t: ContractTarget, name: string, token: string | null, params?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { "content-type": "application/json", ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    return raw(t, `/v2${name}`, params === undefined ? undefined : JSON.stringify(params), h);
  }

  /** Balances (minor units) of the users' first wallets, read through the gateway in one batch. */
  async function balances(t: ContractTarget, users: User[]): Promise<Record<string, number>> {
    const { res, body } = await batch(
      t,
      users.map((u, i) => ({ call: "/wallet/find", authorization: u.access_token, reference_id: `bal-${i}`, parameters: { wallet_id: u.wallets[0].wallet_id } })),
    );
    expect(res.status).toBe(200);
    const out: Record<string, number> = {};
    for (const c of body.calls) {
      expect(c.status).toBe(200);
      out[c.response.wallet_id] = toMinor(c.response.balance);
    }
    return out;
  }

  function payCall(from: User, to: User, amount: string, ref: string) {
    return {
      call: "/payment/create",
      authorization: from.access_token,
      reference_id: ref,
      parameters: { from_wallet_id: from.wallets[0].wallet_id, to_wallet_id: to.wallets[0].wallet_id, amount, currency: "USD" },
    };
  }

  function expectClassicError(r: { res: Response; body: Json }, status: number, error: string) {
    expect(r.res.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body).toMatchObject({ error, error_description: expect.any(String), error_code: expect.any(Number), request_id: expect.any(String) });
  }

  const users = () => main.creds.users;
  const bystanders = () => users().slice(0, 6);

  describe(`${runtime}: POST /batch/create and /v2/batch/create`, () => {
    it("runs the classic example on both paths: /user answers, the unknown call fails alone, request ids echo", async () => {
      const [c] = main.creds.clients;
      const token = users()[0].access_token;
      for (const path of ["/batch/create", "/v2/batch/create"]) {
        const body = {
          client_id: c.client_id,
          client_secret: c.client_secret,
          calls: [
            { call: "/user", authorization: token, reference_id: "1341351" },
            {
              call: "/checkout/nonexistent",
              authorization: token,
              reference_id: "23535111",
              parameters: { account_id: 12345, amount: 100, currency: "USD", short_description: "test", type: "goods" },
            },
          ],
        };
        const r = await raw(main, path, JSON.stringify(body), { "content-type": "application/json", "x-request-id": `classic-${path.length}` });
        expect(r.res.status).toBe(200);
        expect(r.body.calls).toHaveLength(2);
        expect(r.body.calls[0]).toEqual({
          call: "/user",
          reference_id: "1341351",
          status: 200,
          response: expect.objectContaining({ user_id: users()[0].user_id, email: expect.any(String), first_name: "Demo", last_name: expect.any(String) }),
        });
        expect(r.body.calls[1]).toEqual({
          call: "/checkout/nonexistent",
          reference_id: "23535111",
          status: 404,
          response: { error: "unknown_call", error_description: expect.stringContaining("/checkout/nonexistent"), error_code: 1008 },
        });
        expect(r.body.request_id).toBe(`classic-${path.length}`);
        expect(r.res.headers.get("x-request-id")).toBe(`classic-${path.length}`);
      }
      const generated = await batch(main, [{ call: "/user", authorization: token }]);
      expect(generated.body.request_id).toMatch(/^req_/);
      expect(generated.res.headers.get("x-request-id")).toBe(generated.body.request_id);
      expect(generated.body.calls[0].reference_id).toBeNull();
    });

    it("accepts HTTP Basic client credentials; an unknown client or wrong secret is 401 and nothing runs", async () => {
      const [c, c2] = main.creds.clients;
      const [a, b] = users();
      const before = await balances(main, bystanders());
      const basic = await raw(main, "/batch/create", JSON.stringify({ calls: [{ call: "/wallet/list", authorization: b.access_token, reference_id: "w" }] }), {
        "content-type": "application/json",
        authorization: `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}`,
      });
      expect(basic.res.status).toBe(200);
      expect(basic.body.calls[0].response.wallets[0]).toMatchObject({ wallet_id: b.wallets[0].wallet_id, currency: "USD" });

      const pay = payCall(a, b, "5.00", "p");
      for (const body of [
        { client_id: 999999, client_secret: c.client_secret, calls: [pay] },
        { client_id: c.client_id, client_secret: c.client_secret + "x", calls: [pay] },
        { client_id: c.client_id, client_secret: c2.client_secret, calls: [pay] },
        { calls: [pay] },
      ]) {
        const r = await raw(main, "/batch/create", JSON.stringify(body));
        expectClassicError(r, 401, "invalid_client");
        expect(r.text).not.toContain(c.client_secret);
      }
      const wrongBasic = await raw(main, "/batch/create", JSON.stringify({ calls: [pay] }), { "content-type": "application/json", authorization: `Basic ${btoa(`${c.client_id}:nope`)}` });
      expectClassicError(wrongBasic, 401, "invalid_client");
      expect(await balances(main, bystanders())).toEqual(before);
    });

    it("keeps results in request order across many users, each call with its own token", async () => {
      const us = users().slice(0, 4);
      const calls = us.flatMap((u, i) => [
        { call: "/wallet/find", authorization: u.access_token, reference_id: `find-${i}`, parameters: { wallet_id: u.wallets[0].wallet_id } },
        { call: "/user", authorization: u.access_token, reference_id: `user-${i}` },
      ]);
      const { res, body } = await batch(main, calls);
      expect(res.status).toBe(200);
      expect(body.calls.map((c: Json) => c.reference_id)).toEqual(calls.map((c) => c.reference_id));
      us.forEach((u, i) => {
        expect(body.calls[2 * i].response.wallet_id).toBe(u.wallets[0].wallet_id);
        expect(body.calls[2 * i + 1].response.user_id).toBe(u.user_id);
      });
    });

    it("moves money with /payment/create and /payment/reverse, once", async () => {
      const [a, b, stranger] = users();
      const before = await balances(main, [a, b]);
      const pay = await batch(main, [{ ...payCall(a, b, "12.34", "p"), parameters: { ...payCall(a, b, "12.34", "p").parameters, description: "lunch" } }]);
      expect(pay.body.calls[0].status).toBe(200);
      const payment = pay.body.calls[0].response;
      expect(payment).toMatchObject({ amount: "12.34", currency: "USD", status: "completed", description: "lunch" });
      const mid = await balances(main, [a, b]);
      expect(mid[a.wallets[0].wallet_id]).toBe(before[a.wallets[0].wallet_id] - 1234);
      expect(mid[b.wallets[0].wallet_id]).toBe(before[b.wallets[0].wallet_id] + 1234);

      const found = await batch(main, [
        { call: "/payment/find", authorization: a.access_token, reference_id: "payer", parameters: { payment_id: payment.payment_id } },
        { call: "/payment/find", authorization: b.access_token, reference_id: "payee", parameters: { payment_id: payment.payment_id } },
        { call: "/payment/find", authorization: stranger.access_token, reference_id: "stranger", parameters: { payment_id: payment.payment_id } },
      ]);
      expect(found.body.calls.map((c: Json) => c.status)).toEqual([200, 200, 404]);

      const rev = await batch(main, [{ call: "/payment/reverse", authorization: a.access_token, parameters: { payment_id: payment.payment_id } }]);
      expect(rev.body.calls[0].response.status).toBe("reversed");
      expect(await balances(main, [a, b])).toEqual(before);
      const again = await batch(main, [{ call: "/payment/reverse", authorization: a.access_token, parameters: { payment_id: payment.payment_id } }]);
      expect(again.body.calls[0]).toMatchObject({ status: 409, response: { error: "payment_not_reversible" } });
      expect(await balances(main, [a, b])).toEqual(before);
    });

    it("authorizes each call with its own token: a bad or missing token fails only its call", async () => {
      const [a] = users();
      const { res, body } = await batch(main, [
        { call: "/user", authorization: a.access_token, reference_id: "good" },
        { call: "/user", authorization: "at_forged", reference_id: "forged" },
        { call: "/user", reference_id: "none" },
        { call: "/user", authorization: "", reference_id: "empty" },
        { call: "/user", authorization: a.access_token, reference_id: "good2" },
      ]);
      expect(res.status).toBe(200);
      expect(body.calls.map((c: Json) => [c.reference_id, c.status, c.response.error])).toEqual([
        ["good", 200, undefined],
        ["forged", 401, "invalid_token"],
        ["none", 401, "missing_authorization"],
        ["empty", 401, "missing_authorization"],
        ["good2", 200, undefined],
      ]);
    });

    it("enforces each handler's scope per call, and refuses expired and revoked tokens", async () => {
      const [a, b] = users();
      const readOnly = await main.issueToken(a.user_id, ["wallets:read"]);
      const expired = await main.issueToken(a.user_id, ["user:read"], { expiresAt: Date.now() - 60_000 });
      const revoked = await main.issueToken(a.user_id, ["user:read"], { revoked: true });
      const before = await balances(main, [a, b]);
      const { body } = await batch(main, [
        { call: "/wallet/list", authorization: readOnly, reference_id: "list" },
        { ...payCall(a, b, "5.00", "pay"), authorization: readOnly },
        { call: "/user", authorization: readOnly, reference_id: "user" },
        { call: "/payout/find", authorization: readOnly, reference_id: "payout", parameters: { payout_id: "po_x" } },
        { call: "/user", authorization: expired, reference_id: "expired" },
        { call: "/user", authorization: revoked, reference_id: "revoked" },
      ]);
      expect(body.calls.map((c: Json) => [c.status, c.response.error])).toEqual([
        [200, undefined],
        [403, "insufficient_scope"],
        [403, "insufficient_scope"],
        [403, "insufficient_scope"],
        [401, "invalid_token"],
        [401, "invalid_token"],
      ]);
      expect(body.calls[1].response.error_description).toContain("payments:write");
      expect(await balances(main, [a, b])).toEqual(before);
    });

    it("treats someone else's wallet and payment as not_found", async () => {
      const [a, b] = users();
      const before = await balances(main, [a, b]);
      const { body } = await batch(main, [
        { call: "/wallet/find", authorization: a.access_token, reference_id: "w", parameters: { wallet_id: b.wallets[0].wallet_id } },
        { ...payCall(b, a, "5.00", "steal"), authorization: a.access_token },
      ]);
      expect(body.calls.map((c: Json) => [c.status, c.response.error])).toEqual([
        [404, "not_found"],
        [404, "not_found"],
      ]);
      expect(await balances(main, [a, b])).toEqual(before);
    });

    it("rejects malformed JSON, non-objects and wrong content types as a whole", async () => {
      expectClassicError(await raw(main, "/batch/create", "{ not json"), 400, "invalid_json");
      expectClassicError(await raw(main, "/batch/create", "[1,2]"), 400, "invalid_body");
      expectClassicError(await raw(main, "/batch/create", "null"), 400, "invalid_body");
      expectClassicError(await raw(main, "/batch/create", ""), 400, "invalid_json");
      expectClassicError(await raw(main, "/batch/create", "{}", { "content-type": "text/plain" }), 415, "unsupported_media_type");
      expectClassicError(await raw(main, "/batch/create", "{}", {}), 415, "unsupported_media_type");
      const c = main.creds.clients[0];
      expectClassicError(await raw(main, "/batch/create", JSON.stringify({ client_id: { $gt: 0 }, client_secret: c.client_secret, calls: [] })), 400, "invalid_envelope");
      expectClassicError(await raw(main, "/nope", undefined, {}, "GET"), 404, "route_not_found");
      expectClassicError(await raw(main, "/batch/create", undefined, {}, "GET"), 404, "route_not_found");
    });

    it("rejects a malformed call anywhere in the envelope and runs none of the others", async () => {
      const [a, b] = users();
      const before = await balances(main, bystanders());
      for (const bad of [{ reference_id: "no-call-name" }, { call: 42 }, { call: "/user", reference_id: 1341351 }, { call: "/user", parameters: [1, 2] }, { call: "/user", unexpected: true }, "not-an-object"]) {
        const r = await batch(main, [payCall(a, b, "1.00", "p0"), bad]);
        expectClassicError(r, 400, "invalid_envelope");
        expect(r.body.error_description).toMatch(/^calls\[1\]/);
      }
      expect(await balances(main, bystanders())).toEqual(before);
    });

    it("turns bad parameters and business failures into that call's error; the other calls still run", async () => {
      const [a, b] = users();
      const before = await balances(main, [a, b]);
      const { res, body } = await batch(main, [
        { ...payCall(a, b, "1.00", "number"), parameters: { ...payCall(a, b, "1.00", "x").parameters, amount: 1.5 } },
        payCall(a, b, "1.001", "decimals"),
        payCall(a, b, "0.00", "zero"),
        { ...payCall(a, b, "1.00", "currency"), parameters: { ...payCall(a, b, "1.00", "x").parameters, currency: "usd" } },
        { call: "/wallet/find", authorization: a.access_token, reference_id: "proto", parameters: JSON.parse('{"wallet_id":"wal_x","__proto__":{"admin":true}}') },
        { call: "/wallet/find", authorization: a.access_token, reference_id: "missing", parameters: {} },
        payCall(a, b, "100000.00", "too-much"),
        { ...payCall(a, a, "1.00", "same"), reference_id: "same" },
        { call: "/wallet/find", authorization: a.access_token, reference_id: "ok", parameters: { wallet_id: a.wallets[0].wallet_id } },
      ]);
      expect(res.status).toBe(200);
      const by = Object.fromEntries(body.calls.map((c: Json) => [c.reference_id, c]));
      for (const ref of ["number", "decimals", "zero", "currency", "proto", "missing"]) {
        expect(by[ref].status, ref).toBe(400);
        expect(by[ref].response.error, ref).toBe("invalid_parameters");
      }
      expect(by.number.response.error_description).toMatch(/^parameters\.amount: must be a decimal string/);
      expect(by.decimals.response.error_description).toMatch(/^parameters\.amount: has more than 2 decimal places/);
      expect(by.currency.response.error_description).toMatch(/^parameters\.currency: /);
      expect(by.proto.response.error_description).toMatch(/unknown field "__proto__"/);
      expect(by.missing.response.error_description).toMatch(/^parameters\.wallet_id: /);
      expect(by["too-much"]).toMatchObject({ status: 422, response: { error: "insufficient_funds" } });
      expect(by.same).toMatchObject({ status: 422, response: { error: "same_wallet" } });
      expect(by.ok.status).toBe(200);
      expect(await balances(main, [a, b])).toEqual(before);
    });

    it("takes exactly 50 calls; 0 or 51 calls, or a duplicate reference id, reject the batch and nothing runs", async () => {
      const [a, b] = users();
      const before = await balances(main, bystanders());
      const fifty = await batch(main, Array.from({ length: 50 }, (_, i) => ({ call: "/user", authorization: a.access_token, reference_id: String(i) })));
      expect(fifty.res.status).toBe(200);
      expect(fifty.body.calls).toHaveLength(50);
      expect(fifty.body.calls.every((c: Json, i: number) => c.status === 200 && c.reference_id === String(i))).toBe(true);

      const none = await batch(main, []);
      expectClassicError(none, 400, "invalid_call_count");
      expect(none.body.error_description).toMatch(/between 1 and 50/);
      const tooMany = await batch(main, Array.from({ length: 51 }, (_, i) => payCall(a, b, "1.00", `p${i}`)));
      expectClassicError(tooMany, 400, "invalid_call_count");
      expect(tooMany.body.error_description).toContain("51");
      const dup = await batch(main, [payCall(a, b, "1.00", "same"), payCall(a, b, "2.00", "other"), payCall(a, b, "1.00", "same")]);
      expectClassicError(dup, 400, "duplicate_reference_id");
      expect(dup.body.error_description).toContain('"same"');
      expect(await balances(main, bystanders())).toEqual(before);
    });

    it("rejects a body over 1 MiB with 413 and runs nothing", async () => {
      const [a, b] = users();
      const before = await balances(main, bystanders());
      const c = main.creds.clients[0];
      const calls = [payCall(a, b, "1.00", "p"), { call: "/user", reference_id: "big", parameters: { pad: "x".repeat(1024 * 1024) } }];
      const big = await rawIsolated(main, "/batch/create", JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls }), { "content-type": "application/json" });
      expectClassicError(big, 413, "body_too_large");
      const bigSingle = await rawIsolated(main, "/v2/payment/create", JSON.stringify({ ...payCall(a, b, "1.00", "p").parameters, description: "y".repeat(2 * 1024 * 1024) }), {
        "content-type": "application/json",
        authorization: `Bearer ${a.access_token}`,
      });
      expectClassicError(bigSingle, 413, "body_too_large");
      expect(await balances(main, bystanders())).toEqual(before);
    });
  });

  describe(`${runtime}: POST /v2/<call>`, () => {
    it("runs every built-in call alone with a Bearer token, with the same answers as in a batch", async () => {
      const [a, b] = users().slice(2, 4);
      const wal = a.wallets[0].wallet_id;
      const start = (await single(main, "/wallet/find", a.access_token, { wallet_id: wal })).body.balance;
      expect((await single(main, "/user", a.access_token)).body.user_id).toBe(a.user_id);
      expect((await single(main, "/wallet/list", a.access_token, {})).body.wallets).toHaveLength(1);

      const pay = await single(main, "/payment/create", a.access_token, { from_wallet_id: wal, to_wallet_id: b.wallets[0].wallet_id, amount: "2.50", currency: "USD" });
      expect(pay.res.status).toBe(200);
      expect((await single(main, "/payment/find", a.access_token, { payment_id: pay.body.payment_id })).body.amount).toBe("2.50");
      expect((await single(main, "/payment/reverse", a.access_token, { payment_id: pay.body.payment_id })).body.status).toBe("reversed");

      const po = await single(main, "/payout/create", a.access_token, { wallet_id: wal, amount: "3.15", currency: "USD", rail: "ach", destination: { routing_number: "021000021", account_number: "12345678" } });
      expect(po.res.status).toBe(200);
      expect(po.body.status).toBe("pending");
      expect((await single(main, "/payout/find", a.access_token, { payout_id: po.body.payout_id })).body.status).toBe("pending");
      expect((await single(main, "/payout/cancel", a.access_token, { payout_id: po.body.payout_id })).body.status).toBe("cancelled");
      const declined = await single(main, "/payout/create", a.access_token, { wallet_id: wal, amount: "1.13", currency: "USD", rail: "paypal", destination: { email: "a@example.com" } });
      expect(declined.res.status).toBe(422);
      expect(declined.body.error).toBe("payout_declined");
      const end = await single(main, "/wallet/find", a.access_token, { wallet_id: wal });
      expect(end.body.balance).toBe(start);

      const batched = await batch(main, [{ call: "/wallet/find", authorization: a.access_token, parameters: { wallet_id: wal } }]);
      expect(batched.body.calls[0].response).toEqual(end.body);
    });

    it("answers errors with the call's status and the classic body plus a request id", async () => {
      const [a] = users();
      const none = await single(main, "/user", null);
      expectClassicError(none, 401, "missing_authorization");
      expect(none.body.error_code).toBe(2002);
      expectClassicError(await single(main, "/user", "at_bogus"), 401, "invalid_token");
      expectClassicError(await single(main, "/checkout/nonexistent", a.access_token, {}), 404, "unknown_call");
      const bad = await single(main, "/wallet/find", a.access_token, { wallet_id: 5 });
      expectClassicError(bad, 400, "invalid_parameters");
      expect(bad.body.error_description).toMatch(/^parameters\.wallet_id/);
      expect((await raw(main, "/v2/user", undefined, { authorization: "Basic Zm9vOmJhcg==" })).res.status).toBe(401);
      expectClassicError(await raw(main, "/v2/user", "{}", { authorization: `Bearer ${a.access_token}`, "content-type": "text/plain" }), 415, "unsupported_media_type");
      expectClassicError(await raw(main, "/v2/user", "{", { authorization: `Bearer ${a.access_token}`, "content-type": "application/json" }), 400, "invalid_json");
      expectClassicError(await raw(main, "/v2/user", "[]", { authorization: `Bearer ${a.access_token}`, "content-type": "application/json" }), 400, "invalid_body");
      expect((await raw(main, "/v2/user", undefined, { authorization: `Bearer ${a.access_token}` }, "GET")).res.status).toBe(404);
    });
  });

  describe(`${runtime}: idempotency`, () => {
    it("replays the first completed answer for an Idempotency-Key, moves money once, and refuses the key for another body", async () => {
      const [a, b] = users().slice(4, 6);
      const before = await balances(main, [a, b]);
      const key = { "idempotency-key": `${runtime}-pay-1` };
      const params = payCall(a, b, "7.00", "x").parameters;
      const first = await single(main, "/payment/create", a.access_token, params, key);
      expect(first.res.status).toBe(200);
      expect(first.res.headers.get("idempotent-replayed")).toBeNull();
      const again = await single(main, "/payment/create", a.access_token, params, key);
      expect(again.res.status).toBe(200);
      expect(again.res.headers.get("idempotent-replayed")).toBe("true");
      expect(again.text).toBe(first.text);
      const other = await single(main, "/payment/create", a.access_token, { ...params, amount: "8.00" }, key);
      expect(other.res.status).toBe(422);
      expect(other.body.error).toBe("idempotency_key_reused");

      const calls = [payCall(a, b, "3.00", "p")];
      const bKey = { "idempotency-key": `${runtime}-batch-1` };
      const firstBatch = await batch(main, calls, { headers: bKey });
      expect(firstBatch.body.calls[0].status).toBe(200);
      const replayed = await batch(main, calls, { headers: bKey });
      expect(replayed.res.headers.get("idempotent-replayed")).toBe("true");
      expect(replayed.body.calls).toEqual(firstBatch.body.calls);

      const after = await balances(main, [a, b]);
      expect(after[a.wallets[0].wallet_id]).toBe(before[a.wallets[0].wallet_id] - 1000);
      expect(after[b.wallets[0].wallet_id]).toBe(before[b.wallets[0].wallet_id] + 1000);
    });
  });

  describe(`${runtime}: upstream handlers`, () => {
    it("forwards parameters, the access token and the request id to a real HTTP server; a 2xx JSON answer is the response", async () => {
      const token = users()[0].access_token;
      upstream.seen.length = 0;
      const { body } = await batch(
        main,
        [
          { call: "/checkout/create", authorization: token, reference_id: "c", parameters: { account_id: 12345, amount: 100, currency: "USD" } },
          { call: "/user", authorization: token, reference_id: "u" },
          { call: "/status/public", reference_id: "pub", parameters: {} },
        ],
        { headers: { "x-request-id": `${runtime}-upstream-1` } },
      );
      expect(body.calls[0]).toEqual({ call: "/checkout/create", reference_id: "c", status: 200, response: { checkout_id: 77, echo: { account_id: 12345, amount: 100, currency: "USD" } } });
      expect(body.calls[1].status).toBe(200);
      expect(body.calls[2]).toMatchObject({ status: 200, response: { checkout_id: 77, echo: {} } });
      const hit = upstream.seen.find((s) => s.body?.account_id === 12345)!;
      expect(hit).toMatchObject({ path: "/checkout", auth: `Bearer ${token}`, requestId: `${runtime}-upstream-1` });
      expect(upstream.seen.find((s) => s.auth === undefined && s.path === "/checkout")).toBeDefined();
      const alone = await single(main, "/checkout/create", token, { account_id: 1 });
      expect(alone.res.status).toBe(200);
      expect(alone.body).toEqual({ checkout_id: 77, echo: { account_id: 1 } });
    });

    it("turns non-2xx, non-JSON, slow and unreachable upstreams into that call's error only", async () => {
      const token = users()[0].access_token;
      const { res, body } = await batch(main, [
        { call: "/checkout/denied", authorization: token },
        { call: "/checkout/broken", authorization: token },
        { call: "/checkout/text", authorization: token },
        { call: "/checkout/slow", authorization: token },
        { call: "/checkout/down", authorization: token },
        { call: "/checkout/create" },
        { call: "/user", authorization: token },
      ]);
      expect(res.status).toBe(200);
      const [denied, broken, text, slow, down, noToken, user] = body.calls;
      expect(denied).toMatchObject({ status: 502, response: { error: "upstream_error", error_description: "The upstream answered 403: this account can no longer transact" } });
      expect(broken).toMatchObject({ status: 502, response: { error: "upstream_error", error_description: "The upstream answered 500." } });
      expect(text).toMatchObject({ status: 502, response: { error: "upstream_error" } });
      expect(slow).toMatchObject({ status: 504, response: { error: "call_timeout" } });
      expect(down).toMatchObject({ status: 502, response: { error: "upstream_unavailable" } });
      expect(noToken).toMatchObject({ status: 401, response: { error: "missing_authorization" } });
      expect(user.status).toBe(200);
      const alone = await single(main, "/checkout/denied", token, {});
      expectClassicError(alone, 502, "upstream_error");
    });
  });

  describe(`${runtime}: money conservation`, () => {
    it("a concurrent burst of payments and reversals conserves the total and drives no wallet negative", async () => {
      const pool = users().slice(6, 12);
      const before = await balances(main, pool);
      let x = 42;
      const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const sent: { ref: string; amount: string }[] = [];
      // 20 batches of 25 payments, all in flight at once; amounts big enough that many fail.
      const results = (
        await Promise.all(
          Array.from({ length: 20 }, (_, bi) => {
            const calls = Array.from({ length: 25 }, (_, i) => {
              const from = pool[Math.floor(rnd() * pool.length)];
              let to = pool[Math.floor(rnd() * pool.length)];
              if (to === from) to = pool[(pool.indexOf(from) + 1) % pool.length];
              const amount = `${Math.floor(rnd() * 300) + 1}.${String(Math.floor(rnd() * 100)).padStart(2, "0")}`;
              sent.push({ ref: `${bi}-${i}`, amount });
              return payCall(from, to, amount, `${bi}-${i}`);
            });
            return batch(main, calls);
          }),
        )
      ).flatMap((r) => {
        expect(r.res.status).toBe(200);
        return r.body.calls;
      });
      expect(results).toHaveLength(500);
      const ok = results.filter((r: Json) => r.status === 200);
      const failed = results.filter((r: Json) => r.status !== 200);
      expect(ok.length).toBeGreaterThan(50);
      expect(failed.length).toBeGreaterThan(10);
      expect(failed.every((r: Json) => r.response.error === "insufficient_funds")).toBe(true);
      const amountOf = new Map(sent.map((s) => [s.ref, s.amount]));
      for (const r of ok) expect(r.response.amount).toBe(amountOf.get(r.reference_id));

      // Reverse a third of the successes concurrently (some fail: the payee spent it meanwhile).
      const payerOf = (p: Json) => pool.find((u) => u.wallets[0].wallet_id === p.from_wallet_id)!;
      const reversals = await Promise.all(
        ok.filter((_: unknown, i: number) => i % 3 === 0).map((r: Json) => single(main, "/payment/reverse", payerOf(r.response).access_token, { payment_id: r.response.payment_id })),
      );
      for (const r of reversals) {
        if (r.res.status === 200) expect(r.body.status).toBe("reversed");
        else expect(r.body.error).toBe("insufficient_funds");
      }
      const reversedIds = new Set(reversals.filter((r) => r.res.status === 200).map((r) => r.body.payment_id));

      const after = await balances(main, pool);
      expect(sum(Object.values(after))).toBe(sum(Object.values(before)));
      expect(Object.values(after).every((v) => v >= 0)).toBe(true);
      // Each wallet moved by exactly what its recorded payments say.
      const expected = { ...before };
      for (const r of ok) {
        if (reversedIds.has(r.response.payment_id)) continue;
        const cents = toMinor(r.response.amount);
        expected[r.response.from_wallet_id] -= cents;
        expected[r.response.to_wallet_id] += cents;
      }
      expect(after).toEqual(expected);

      // Every successful payment is stored with the amount and the status the caller was told.
      for (let i = 0; i < ok.length; i += 50) {
        const chunk = ok.slice(i, i + 50);
        const found = await batch(
          main,
          chunk.map((r: Json) => ({ call: "/payment/find", authorization: payerOf(r.response).access_token, parameters: { payment_id: r.response.payment_id } })),
        );
        found.body.calls.forEach((f: Json, j: number) => {
          expect(f.status).toBe(200);
          expect(f.response.amount).toBe(chunk[j].response.amount);
          expect(f.response.status).toBe(reversedIds.has(chunk[j].response.payment_id) ? "reversed" : "completed");
        });
      }
    }, 120_000);
  });

  describe(`${runtime}: rate limits`, () => {
    it("limits each client on the outer request, one unit per call, with RateLimit fields and Retry-After", async () => {
      const [c1, c2] = tight.creds.clients;
      const us = tight.creds.users;
      // 12 calls over four users (3 each, under the token limit of 5).
      const twelve = us.slice(2, 6).flatMap((u, i) => [0, 1, 2].map((k) => ({ call: "/user", authorization: u.access_token, reference_id: `${i}-${k}` })));
      const first = await batch(tight, twelve, { client: c1 });
      expect(first.res.status).toBe(200);
      expect(first.body.calls.every((c: Json) => c.status === 200)).toBe(true);
      expect(first.res.headers.get("ratelimit-policy")).toBe('"client";q=20;w=3600');
      expect(first.res.headers.get("ratelimit")).toMatch(/^"client";r=8;t=\d+$/);
      const t = Number(/t=(\d+)/.exec(first.res.headers.get("ratelimit")!)![1]);
      expect(t).toBeGreaterThan(0);
      expect(t).toBeLessThanOrEqual(3600);

      const second = await batch(tight, twelve, { client: c1 });
      expectClassicError(second, 429, "throttle_exceeded");
      expect(second.body.error_code).toBe(5001);
      const retry = Number(second.res.headers.get("retry-after"));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(3600);
      expect(second.res.headers.get("ratelimit")).toMatch(/^"client";r=0;t=\d+$/);
      // Nothing ran: the users' own budgets are untouched by the rejected batch.
      const probe = await single(tight, "/user", us[5].access_token);
      expect(probe.res.status).toBe(200);
      expect(probe.res.headers.get("ratelimit")).toMatch(/^"token";r=1;t=\d+$/);

      // The other client has its own budget.
      const other = await batch(tight, [{ call: "/user", authorization: us[4].access_token }], { client: c2 });
      expect(other.res.status).toBe(200);
      expect(other.res.headers.get("ratelimit")).toMatch(/^"client";r=19;t=\d+$/);
    });

    it("limits each access token across calls, so batching never bypasses a user's own limit", async () => {
      const [, c2] = tight.creds.clients;
      const [a, b] = tight.creds.users;
      const calls = [
        ...Array.from({ length: 8 }, (_, i) => ({ call: "/user", authorization: a.access_token, reference_id: `a${i}` })),
        { call: "/user", authorization: b.access_token, reference_id: "b0" },
      ];
      const { res, body } = await batch(tight, calls, { client: c2 });
      expect(res.status).toBe(200);
      const aResults = body.calls.filter((c: Json) => c.reference_id.startsWith("a"));
      expect(aResults.filter((c: Json) => c.status === 200)).toHaveLength(5);
      const throttled = aResults.filter((c: Json) => c.status === 429);
      expect(throttled).toHaveLength(3);
      expect(throttled.every((c: Json) => c.response.error === "throttle_exceeded" && c.response.error_code === 5001)).toBe(true);
      expect(body.calls.find((c: Json) => c.reference_id === "b0").status).toBe(200);

      // The same budget applies to single calls.
      const single_ = await single(tight, "/user", a.access_token);
      expectClassicError(single_, 429, "throttle_exceeded");
      expect(Number(single_.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(single_.res.headers.get("ratelimit-policy")).toBe('"token";q=5;w=3600');
      expect(single_.res.headers.get("ratelimit")).toMatch(/^"token";r=0;t=\d+$/);
      const okB = await single(tight, "/user", b.access_token);
      expect(okB.res.status).toBe(200);
      expect(okB.res.headers.get("ratelimit")).toMatch(/^"token";r=3;t=\d+$/);
    });
  });

  async function scrape(t: ContractTarget): Promise<Samples> {
    const r = await raw(t, "/metrics", undefined, { authorization: `Bearer ${ADMIN_KEY}` }, "GET");
    expect(r.res.status, r.text).toBe(200);
    return parseExposition(r.text);
  }

  describe(`${runtime}: metrics`, () => {
    it("serves GET /metrics in the Prometheus text format to the operator key only", async () => {
      const none = await raw(main, "/metrics", undefined, {}, "GET");
      expectClassicError(none, 401, "missing_authorization");
      const wrong = await raw(main, "/metrics", undefined, { authorization: `Bearer ${ADMIN_KEY}x` }, "GET");
      expectClassicError(wrong, 401, "invalid_token");
      expect(wrong.text).not.toContain(ADMIN_KEY);
      const ok = await raw(main, "/metrics", undefined, { authorization: `Bearer ${ADMIN_KEY}` }, "GET");
      expect(ok.res.status).toBe(200);
      expect(ok.res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      for (const [name, def] of Object.entries(METRICS)) expect(ok.text).toContain(`# TYPE ${name} ${def.kind}`);
      // Exposed at 0 before the first case, so an alert can watch it from the start.
      for (const kind of ["payment_batch_reversal", "atomic_call_compensation"]) {
        expect(ok.text).toMatch(new RegExp(`^batchgate_manual_action_required_total\\{kind="${kind}"\\} 0$`, "m"));
      }
      const doc = await raw(main, "/openapi.json", undefined, {}, "GET");
      expect(doc.body.paths["/metrics"].get.responses["200"].content).toHaveProperty("text/plain");
    });

    it("counts requests by route, calls by name and outcome, batch sizes, idempotency and in-flight calls exactly", async () => {
      const [u0, u1, u2] = users();
      const stamp = `${runtime}-${Date.now()}`;
      const before = await scrape(main);

      // A payout whose rail hangs until the call timeout: in flight while the rest runs.
      const hangKey = `hang-${stamp}`;
      const payout = {
        call: "/payout/create",
        authorization: u2.access_token,
        reference_id: "hang",
        parameters: { wallet_id: u2.wallets[0].wallet_id, amount: "1.16", currency: "USD", rail: "ach", destination: { routing_number: "123456789", account_number: "12345678" } },
      };
      const hanging = batch(main, [payout], { headers: { "idempotency-key": hangKey } });
      let inFlight = 0;
      for (let i = 0; i < 200 && inFlight < 1; i++) {
        inFlight = sampleOf(await scrape(main), "batchgate_calls_in_flight");
        if (inFlight < 1) await new Promise((r) => setTimeout(r, 25));
      }
      expect(inFlight).toBeGreaterThanOrEqual(1);
      expectClassicError(await batch(main, [payout], { headers: { "idempotency-key": hangKey } }), 409, "idempotency_key_in_use");

      // One batch: ok, not_found, and two different unknown names.
      const b1 = await batch(main, [
        { call: "/user", authorization: u0.access_token, reference_id: "ok" },
        { call: "/wallet/find", authorization: u0.access_token, reference_id: "nf", parameters: { wallet_id: "wal_nope" } },
        { call: "/no/such-call", reference_id: "u1" },
        { call: `/no/such-call-${stamp}`, reference_id: "u2" },
      ]);
      expect(b1.body.calls.map((c: Json) => c.status)).toEqual([200, 404, 404, 404]);

      // A per-call key: runs, replays, then is reused with other parameters (422 for that call).
      const callKey = `call-${stamp}`;
      const keyed = (walletId: string) => [{ call: "/wallet/find", authorization: u1.access_token, reference_id: "k", parameters: { wallet_id: walletId }, idempotency_key: callKey }];
      expect((await batch(main, keyed(u1.wallets[0].wallet_id))).body.calls[0].status).toBe(200);
      expect((await batch(main, keyed(u1.wallets[0].wallet_id))).body.calls[0].replayed).toBe(true);
      expect((await batch(main, keyed(u0.wallets[0].wallet_id))).body.calls[0].response.error).toBe("idempotency_key_reused");

      // A whole-request key: runs, replays, then 422 for a different request.
      const wholeKey = `whole-${stamp}`;
      const w1 = await batch(main, [{ call: "/user", authorization: u1.access_token, reference_id: "w" }], { headers: { "idempotency-key": wholeKey } });
      expect(w1.res.status).toBe(200);
      const w2 = await batch(main, [{ call: "/user", authorization: u1.access_token, reference_id: "w" }], { headers: { "idempotency-key": wholeKey } });
      expect(w2.res.headers.get("idempotent-replayed")).toBe("true");
      expectClassicError(await batch(main, [{ call: "/user", authorization: u1.access_token, reference_id: "w2" }], { headers: { "idempotency-key": wholeKey } }), 422, "idempotency_key_reused");

      // An unknown route.
      expect((await raw(main, `/no/such/route/${stamp}`, undefined, {}, "GET")).res.status).toBe(404);

      const hung = await hanging;
      expect(hung.body.calls[0].response.error).toBe("call_timeout");
      const after = await scrape(main);
      const d = (name: string, labels: Record<string, string> = {}) => diffOf(before, after, name, labels);

      expect(d("batchgate_http_requests_total", { method: "POST", route: "/batch/create", status: "200" })).toBe(7);
      expect(d("batchgate_http_requests_total", { method: "POST", route: "/batch/create", status: "409" })).toBe(1);
      expect(d("batchgate_http_requests_total", { method: "POST", route: "/batch/create", status: "422" })).toBe(1);
      expect(d("batchgate_http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1);
      // The raw path of an unknown route never becomes a label value.
      expect([...after.keys()].some((k) => k.includes(stamp))).toBe(false);

      expect(d("batchgate_calls_total", { call: "/user", outcome: "ok" })).toBe(2);
      expect(d("batchgate_calls_total", { call: "/wallet/find", outcome: "not_found" })).toBe(1);
      expect(d("batchgate_calls_total", { call: "/wallet/find", outcome: "ok" })).toBe(1);
      expect(d("batchgate_calls_total", { call: "/wallet/find", outcome: "idempotency_key_reused" })).toBe(1);
      expect(d("batchgate_calls_total", { call: "unknown", outcome: "unknown_call" })).toBe(2);
      expect(d("batchgate_calls_total", { call: "/payout/create", outcome: "call_timeout" })).toBe(1);
      expect(d("batchgate_call_duration_seconds_count", { call: "/user" })).toBe(2);
      expect(d("batchgate_call_duration_seconds_count", { call: "/wallet/find" })).toBe(3);
      expect(d("batchgate_call_duration_seconds_bucket", { call: "/wallet/find", le: "+Inf" })).toBe(3);
      expect(d("batchgate_batch_size_count")).toBe(6);
      expect(d("batchgate_batch_size_sum")).toBe(9);
      expect(d("batchgate_batch_size_bucket", { le: "1" })).toBe(5);

      expect(d("batchgate_idempotency_total", { result: "replay" })).toBe(2);
      expect(d("batchgate_idempotency_total", { result: "in_use" })).toBe(1);
      expect(d("batchgate_idempotency_total", { result: "reused" })).toBe(2);
      for (const policy of ["client", "token", "ip"]) expect(d("batchgate_rate_limit_rejections_total", { policy })).toBe(0);
      expect(d("batchgate_store_errors_total")).toBe(0);
      expect(sampleOf(after, "batchgate_manual_action_required_total", { kind: "payment_batch_reversal" })).toBe(0);
      expect(sampleOf(after, "batchgate_calls_in_flight")).toBe(0);
      expect(sampleOf(after, "batchgate_calls_queued")).toBe(0);
    }, 60_000);

    it("counts rate-limit rejections by policy: a throttled token and a throttled client", async () => {
      const [c1, c2] = tight.creds.clients;
      const user = tight.creds.users[5];
      const token = await tight.issueToken(user.user_id, ["user:read"]);
      const before = await scrape(tight);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await single(tight, "/user", token)).res.status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      // Client budgets of 20 a window: run one-call batches (no token needed) until the limit answers.
      let ran = 0;
      let refused = 0;
      for (let i = 0; i < 25 && refused === 0; i++) {
        for (const client of [c1, c2]) {
          const r = await batch(tight, [{ call: "/no/such-call" }], { client });
          if (r.res.status === 200) ran++;
          else {
            expectClassicError(r, 429, "throttle_exceeded");
            refused++;
            break;
          }
        }
      }
      expect(refused).toBe(1);
      const after = await scrape(tight);
      const d = (name: string, labels: Record<string, string> = {}) => diffOf(before, after, name, labels);
      expect(d("batchgate_rate_limit_rejections_total", { policy: "token" })).toBe(1);
      expect(d("batchgate_rate_limit_rejections_total", { policy: "client" })).toBe(1);
      expect(d("batchgate_rate_limit_rejections_total", { policy: "ip" })).toBe(0);
      expect(d("batchgate_calls_total", { call: "/user", outcome: "ok" })).toBe(5);
      expect(d("batchgate_calls_total", { call: "/user", outcome: "throttle_exceeded" })).toBe(1);
      expect(d("batchgate_calls_total", { call: "unknown", outcome: "unknown_call" })).toBe(ran);
      expect(d("batchgate_http_requests_total", { method: "POST", route: "/v2/user", status: "200" })).toBe(5);
      expect(d("batchgate_http_requests_total", { method: "POST", route: "/v2/user", status: "429" })).toBe(1);
      expect(d("batchgate_http_requests_total", { method: "POST", route: "/batch/create", status: "429" })).toBe(1);
    }, 60_000);
  });

  describe(`${runtime}: admin API`, () => {
    const admin = (t: ContractTarget, method: string, path: string, body?: unknown, key = ADMIN_KEY) =>
      raw(t, path, body === undefined ? undefined : JSON.stringify(body), { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, method);

    // Off without ADMIN_API_KEY (404): test/routes/admin.error.test.ts (every target here has a key).
    it("refuses a wrong key with 401 invalid_admin_key, in the v1 shape", async () => {
      const wrong = await admin(main, "POST", "/admin/v1/clients", { name: "x" }, `${ADMIN_KEY}-wrong`);
      expect(wrong.res.status).toBe(401);
      expect(wrong.body.error.code).toBe("invalid_admin_key");
      const bad = await admin(main, "POST", "/admin/v1/users", { email: "nope", first_name: "A", last_name: "B" });
      expect(bad.res.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: "invalid_body", details: { field: "body.email" } });
    });

    it("provisions a client, a user, a token and a funded wallet that work at once; rotation, disabling, freezing and revocation take effect on the next call", async () => {
      const client = (await admin(main, "POST", "/admin/v1/clients", { name: `contract ${runtime}` })).body;
      expect(client).toMatchObject({ status: "active", client_secret: expect.stringMatching(/^cs_/) });
      const user = await admin(main, "POST", "/admin/v1/users", { email: `ops-${runtime}@example.com`, first_name: "Op", last_name: "Erator" });
      expect(user.res.status).toBe(201);
      const userId = user.body.user_id;
      const issued = (await admin(main, "POST", `/admin/v1/users/${userId}/tokens`, { scopes: ["user:read", "wallets:read", "payments:write"] })).body;
      const viaClient = (c: { client_id: number; client_secret: string }) => batch(main, [{ call: "/user", authorization: issued.access_token }], { client: c });
      const first = await viaClient(client);
      expect(first.res.status).toBe(200);
      expect(first.body.calls[0].response.user_id).toBe(userId);

      const rotated = (await admin(main, "POST", `/admin/v1/clients/${client.client_id}/rotate-secret`)).body;
      expectClassicError(await viaClient(client), 401, "invalid_client");
      expect((await viaClient(rotated)).res.status).toBe(200);
      expect((await admin(main, "POST", `/admin/v1/clients/${client.client_id}/disable`)).body.status).toBe("disabled");
      expectClassicError(await viaClient(rotated), 401, "invalid_client");

      const wallet = (await admin(main, "POST", `/admin/v1/users/${userId}/wallets`, { currency: "USD" })).body;
      const fund = { amount: "75.25", reason: "contract", idempotency_key: `contract-${runtime}` };
      const funded = await admin(main, "POST", `/admin/v1/wallets/${wallet.wallet_id}/fund`, fund);
      expect(funded.body).toMatchObject({ amount: "75.25", replayed: false, wallet: { balance: "75.25" } });
      expect((await admin(main, "POST", `/admin/v1/wallets/${wallet.wallet_id}/fund`, fund)).body).toMatchObject({ funding_id: funded.body.funding_id, replayed: true, wallet: { balance: "75.25" } });
      expect((await admin(main, "POST", `/admin/v1/wallets/${wallet.wallet_id}/fund`, { ...fund, amount: "1.00" })).body.error.code).toBe("idempotency_key_reused");
      expect((await single(main, "/wallet/find", issued.access_token, { wallet_id: wallet.wallet_id })).body.balance).toBe("75.25");

      expect((await admin(main, "POST", `/admin/v1/wallets/${wallet.wallet_id}/freeze`)).body.frozen).toBe(true);
      const payer = users()[0];
      const toFrozen = await single(main, "/payment/create", payer.access_token, { from_wallet_id: payer.wallets[0].wallet_id, to_wallet_id: wallet.wallet_id, amount: "1.00", currency: "USD" });
      expectClassicError(toFrozen, 409, "wallet_frozen");
      const fromFrozen = await single(main, "/payment/create", issued.access_token, { from_wallet_id: wallet.wallet_id, to_wallet_id: payer.wallets[0].wallet_id, amount: "1.00", currency: "USD" });
      expectClassicError(fromFrozen, 409, "wallet_frozen");
      expect((await admin(main, "POST", `/admin/v1/wallets/${wallet.wallet_id}/unfreeze`)).body.frozen).toBe(false);
      const paid = await single(main, "/payment/create", issued.access_token, { from_wallet_id: wallet.wallet_id, to_wallet_id: payer.wallets[0].wallet_id, amount: "0.25", currency: "USD" });
      expect(paid.res.status).toBe(200);
      const entries = (await admin(main, "GET", `/admin/v1/wallets/${wallet.wallet_id}/entries`)).body;
      expect(entries.data.map((e: any) => [e.amount, e.kind])).toEqual([
        ["-0.25", "payment"],
        ["75.25", "funding"],
      ]);

      const revoked = await admin(main, "POST", `/admin/v1/tokens/${issued.token_id}/revoke`);
      expect(revoked.body.status).toBe("revoked");
      expectClassicError(await single(main, "/user", issued.access_token), 401, "invalid_token");
      const listed = (await admin(main, "GET", `/admin/v1/users/${userId}/tokens`)).body;
      expect(listed.data).toEqual([expect.objectContaining({ token_id: issued.token_id, status: "revoked" })]);

      const audit = (await admin(main, "GET", "/admin/v1/audit?limit=11")).body;
      expect(audit.data.map((a: any) => a.action)).toEqual([
        "token.revoke",
        "wallet.unfreeze",
        "wallet.freeze",
        "wallet.fund",
        "wallet.open",
        "client.disable",
        "client.rotate_secret",
        "token.issue",
        "user.create",
        "client.create",
        "demo.seed",
      ]);
    });
  });

  describe(`${runtime}: webhook endpoints`, () => {
    const basicOf = (c: Client) => `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString("base64")}`;
    const hook = (t: ContractTarget, method: string, path: string, body?: unknown, auth: string | null = basicOf(t.creds.clients[0])) => {
      const headers: Record<string, string> = {};
      if (auth) headers.authorization = auth;
      if (body !== undefined) headers["content-type"] = "application/json";
      return raw(t, path, body === undefined ? undefined : JSON.stringify(body), headers, method);
    };

    it("creates (secret shown once), lists, gets, rotates, lists deliveries and deletes, per client", async () => {
      const created = await hook(main, "POST", "/v1/webhook-endpoints", { url: "https://93.184.216.34/hooks", events: ["batch.completed", "batch.item.failed"], item_events: false });
      expect(created.res.status).toBe(201);
      const ep = created.body;
      expect(ep).toMatchObject({ url: "https://93.184.216.34/hooks", events: ["batch.completed"], item_events: false, all_events: false, status: "enabled" });
      expect(ep.id).toMatch(/^whe_/);
      expect(ep.secret).toMatch(/^whsec_/);
      const list = await hook(main, "GET", "/v1/webhook-endpoints");
      expect(list.res.status).toBe(200);
      expect(list.body.data.map((e: Json) => e.id)).toContain(ep.id);
      expect(list.text).not.toContain(ep.secret.slice(6));
      const one = await hook(main, "GET", `/v1/webhook-endpoints/${ep.id}`);
      expect(one.body).toMatchObject({ id: ep.id, previous_secret_expires_at: null });
      expect(one.body.secret).toBeUndefined();
      const rotated = await hook(main, "POST", `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { grace_period_seconds: 60 });
      expect(rotated.res.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(ep.secret);
      expect(Date.parse(rotated.body.previous_secret_expires_at)).toBeGreaterThan(Date.now());
      const deliveries = await hook(main, "GET", `/v1/webhook-endpoints/${ep.id}/deliveries?limit=5`);
      expect(deliveries.body).toEqual({ data: [], has_more: false });
      const theirs = await hook(main, "GET", `/v1/webhook-endpoints/${ep.id}`, undefined, basicOf(main.creds.clients[1]));
      expect(theirs.res.status).toBe(404);
      expect(theirs.body.error).toMatchObject({ code: "not_found" });
      const del = await hook(main, "DELETE", `/v1/webhook-endpoints/${ep.id}`);
      expect(del.body).toEqual({ id: ep.id, deleted: true });
      expect((await hook(main, "GET", `/v1/webhook-endpoints/${ep.id}`)).res.status).toBe(404);
      expect(main.output()).not.toContain(ep.secret.slice(6));
      expect(main.output()).not.toContain(rotated.body.secret.slice(6));
    });

    it("refuses private and plain-http URLs, missing credentials and bad bodies in the v1 shape", async () => {
      for (const url of ["http://93.184.216.34/", "https://127.0.0.1/", "https://[::1]/", "https://169.254.169.254/", "https://localhost/"]) {
        const r = await hook(main, "POST", "/v1/webhook-endpoints", { url });
        expect(r.res.status, url).toBe(422);
        expect(r.body.error).toMatchObject({ code: "webhook_url_not_allowed", request_id: expect.any(String) });
      }
      const anon = await hook(main, "POST", "/v1/webhook-endpoints", { url: "https://93.184.216.34/" }, null);
      expect(anon.res.status).toBe(401);
      expect(anon.body.error.code).toBe("invalid_client");
      const bad = await hook(main, "POST", "/v1/webhook-endpoints", { url: "https://93.184.216.34/", events: ["nope"] });
      expect(bad.res.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: "invalid_body", details: { field: "body.events.0" } });
    });

    it("delivers emitted events signed per Standard Webhooks, retries a failing receiver, and lists every attempt", async () => {
      const receiver = await startReceiver();
      try {
        receiver.answer({ status: 500 });
        const created = await hook(tight, "POST", "/v1/webhook-endpoints", { url: `${receiver.url}/hook`, item_events: false }, basicOf(tight.creds.clients[0]));
        expect(created.res.status).toBe(201);
        const { id, secret } = created.body;
        const clientId = Number(tight.creds.clients[0].client_id);
        await tight.emitEvent({ id: `evt_${runtime}_item`, clientId, type: "batch.item.completed", data: { batch_id: "bat_c", item_index: 0 } });
        await tight.emitEvent({ id: `evt_${runtime}_done`, clientId, type: "batch.completed", data: { batch_id: "bat_c", succeeded_count: 1 } });
        await waitFor("the retried delivery", () => receiver.received.length >= 2, 20_000);
        for (const r of receiver.received) {
          expect(r.headers["webhook-id"]).toBe(`evt_${runtime}_done`);
          expect(verifyWith(secret, r)).toMatchObject({ type: "batch.completed", data: { batch_id: "bat_c", succeeded_count: 1 } });
        }
        const list = await waitFor(
          "both attempts recorded",
          async () => {
            const l = await hook(tight, "GET", `/v1/webhook-endpoints/${id}/deliveries`, undefined, basicOf(tight.creds.clients[0]));
            return l.body.data.length === 2 && l.body;
          },
          10_000,
        );
        expect(list.data.map((a: Json) => [a.attempt, a.outcome, a.status_code])).toEqual([
          [2, "delivered", 200],
          [1, "retrying", 500],
        ]);
        expect(receiver.received).toHaveLength(2);
      } finally {
        await receiver.close();
      }
    });
  });

  describe(`${runtime}: asynchronous batches (/v1/batches)`, () => {
    // Users 12 and 13 are this block's own.
    const basicOf = (c: Client) => `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString("base64")}`;
    const v1 = (method: string, path: string, body?: unknown, auth: string | null = basicOf(main.creds.clients[0])) => {
      const headers: Record<string, string> = {};
      if (auth) headers.authorization = auth;
      if (body !== undefined) headers["content-type"] = "application/json";
      return raw(main, path, body === undefined ? undefined : JSON.stringify(body), headers, method);
    };
    async function settled(id: string) {
      for (let i = 0; i < 300; i++) {
        const r = await v1("GET", `/v1/batches/${id}`);
        if (r.body.status !== "processing") return r.body;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`batch ${id} still processing`);
    }

    it("runs a batch in the background: counts, paged results without tokens, money moved once, retry answers ALREADY_COMPLETED", async () => {
      const [a, b] = [users()[12], users()[13]];
      const before = await balances(main, [a, b]);
      const tag = `${runtime}-${Date.now()}`;
      const created = await v1("POST", "/v1/batches", { label: "contract", idempotency_key: `bk-${tag}`, metadata: { run: tag } });
      expect(created.res.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.id;
      expect((await v1("POST", "/v1/batches", { idempotency_key: `bk-${tag}` })).body.id).toBe(id);
      const items = [
        { ...payCall(a, b, "0.50", "p0"), idempotency_key: `i0-${tag}`, metadata: { row: 0 } },
        { call: "/user", authorization: b.access_token, reference_id: "u1", idempotency_key: `i1-${tag}` },
        { ...payCall(a, b, "100000.00", "p2"), idempotency_key: `i2-${tag}` },
      ];
      const added = await v1("POST", `/v1/batches/${id}/items`, { items });
      expect(added.res.status, JSON.stringify(added.body)).toBe(200);
      expect(added.body.total_count).toBe(3);
      const processed = await v1("POST", `/v1/batches/${id}/process`);
      expect(processed.res.status).toBe(202);
      expect(processed.body.status).toBe("processing");
      const done = await settled(id);
      expect(done).toMatchObject({ status: "completed_with_failures", succeeded_count: 2, failed_count: 1, percent_done: 100 });

      const page = await v1("GET", `/v1/batches/${id}/results?limit=2&include_request=true`);
      expect(page.body.has_more).toBe(true);
      expect(page.body.data[0]).toMatchObject({ index: 0, status: "succeeded", reference_id: "p0", metadata: { row: 0 }, request: { call: "/payment/create" } });
      expect(page.text).not.toContain(a.access_token);
      expect(page.text).not.toContain(b.access_token);
      const failed = await v1("GET", `/v1/batches/${id}/results?status=failed`);
      expect(failed.body.data).toHaveLength(1);
      expect(failed.body.data[0]).toMatchObject({ index: 2, response: { error: "insufficient_funds" } });

      const after = await balances(main, [a, b]);
      expect(after[a.wallets[0].wallet_id]).toBe(before[a.wallets[0].wallet_id] - 50);
      expect(after[b.wallets[0].wallet_id]).toBe(before[b.wallets[0].wallet_id] + 50);

      expect((await v1("POST", `/v1/batches/${id}/process`)).res.status).toBe(422);
      const retry = await v1("POST", `/v1/batches/${id}/retry`, { items: [0] });
      expect(retry.body.items).toEqual([{ index: 0, reference_id: "p0", outcome: "ALREADY_COMPLETED", attempt: 1 }]);
      const listed = await v1("GET", "/v1/batches?limit=100");
      expect(listed.body.data.map((x: Json) => x.id)).toContain(id);
      // A key already used by this client's other batch is 409.
      const other = await v1("POST", "/v1/batches", {});
      const reused = await v1("POST", `/v1/batches/${other.body.id}/items`, { items: [{ call: "/user", authorization: b.access_token, idempotency_key: `i1-${tag}` }] });
      expect(reused.res.status).toBe(409);
      expect(reused.body.error).toMatchObject({ code: "item_idempotency_key_in_use", details: { batch_id: id, batch_index: 1 } });
      expect((await v1("POST", `/v1/batches/${other.body.id}/cancel`)).body.status).toBe("cancelled");
    });

    it("answers in the v1 error shape: 401 invalid_client, 404 for another client's batch", async () => {
      const none = await v1("GET", "/v1/batches", undefined, null);
      expect(none.res.status).toBe(401);
      expect(none.body.error).toMatchObject({ code: "invalid_client", request_id: expect.any(String) });
      const mine = await v1("POST", "/v1/batches", {});
      const theirs = await v1("GET", `/v1/batches/${mine.body.id}`, undefined, basicOf(main.creds.clients[1]));
      expect(theirs.res.status).toBe(404);
      expect(theirs.body.error.code).toBe("not_found");
      const doc = await raw(main, "/openapi.json", undefined, {}, "GET");
      for (const p of ["/v1/batches", "/v1/batches/{id}", "/v1/batches/{id}/items", "/v1/batches/{id}/process", "/v1/batches/{id}/results", "/v1/batches/{id}/retry", "/v1/batches/{id}/cancel"]) {
        expect(Object.keys(doc.body.paths)).toContain(p);
      }
    });

    it("pays out wallet-first from the client's treasury: outcomes, echoed customer ids, money conserved, retry only re-attempts the rail", async () => {
      // Users 14 and 15 are this test's own; client 1's treasury is this test's (client 0 pays in other tests).
      const client = main.creds.clients[1];
      const auth = basicOf(client);
      const [a, b] = [users()[14], users()[15]];
      const tag = `${runtime}-${Date.now()}`;
      const treasury = async () => {
        const r = await v1("GET", "/v1/treasury/wallets", undefined, auth);
        expect(r.res.status).toBe(200);
        const usd = r.body.data.find((w: Json) => w.currency === "USD");
        expect(usd).toMatchObject({ object: "treasury_wallet", status: "active" });
        return usd;
      };
      const t0 = await treasury();
      const before = await balances(main, [a, b]);
      const item = (user: string, amount: string, rail: string, n: number) => ({
        type: "payout",
        user_id: user,
        amount,
        currency: "USD",
        rail,
        customer_transaction_id: `ctx-${tag}-${n}`,
        idempotency_key: `po-${tag}-${n}`,
      });
      const items = [
        item(a.user_id, "10.00", "ach", 0), // completed
        item(a.user_id, "10.13", "ach", 1), // the sandbox rail declines: retained in a's wallet
        item(b.user_id, "7.50", "check", 2), // a check stays pending
        item("usr_nobody", "1.00", "ach", 3), // RECIPIENT_NOT_FOUND: nothing moves
      ];
      const created = await v1("POST", "/v1/batches", { customer_batch_id: `cbt-${tag}`, items, process: true }, auth);
      expect(created.res.status, created.text).toBe(202);
      expect(created.body.customer_batch_id).toBe(`cbt-${tag}`);
      const id = created.body.id;
      const settledBatch = async () => {
        for (let i = 0; i < 300; i++) {
          const r = await v1("GET", `/v1/batches/${id}`, undefined, auth);
          if (r.body.status !== "processing") return r.body;
          await new Promise((res) => setTimeout(res, 100));
        }
        throw new Error(`batch ${id} still processing`);
      };
      expect(await settledBatch()).toMatchObject({ status: "completed_with_failures", succeeded_count: 2, failed_count: 2 });
      const results = (await v1("GET", `/v1/batches/${id}/results`, undefined, auth)).body.data;
      expect(results.map((r: Json) => [r.type, r.customer_batch_id, r.customer_transaction_id, r.status, r.response.outcome, r.response.error_code])).toEqual([
        ["payout", `cbt-${tag}`, `ctx-${tag}-0`, "succeeded", "completed", null],
        ["payout", `cbt-${tag}`, `ctx-${tag}-1`, "failed", "retained_in_wallet", "RAIL_DECLINED"],
        ["payout", `cbt-${tag}`, `ctx-${tag}-2`, "succeeded", "pending", null],
        ["payout", `cbt-${tag}`, `ctx-${tag}-3`, "failed", "failed", "RECIPIENT_NOT_FOUND"],
      ]);
      // Paid into a's existing USD wallet (the oldest), then out to the rail.
      expect(results[0].response.wallet_id).toBe(a.wallets[0].wallet_id);
      const mid = await balances(main, [a, b]);
      const [wa, wb] = [a.wallets[0].wallet_id, b.wallets[0].wallet_id];
      expect(mid[wa]).toBe(before[wa] + 1013);
      expect(mid[wb]).toBe(before[wb]);
      expect(toMinor((await treasury()).balance)).toBe(toMinor(t0.balance) - 1000 - 1013 - 750);

      // The treasury's ledger shows the three transfers, newest first, cursor-paged.
      const page = await v1("GET", `/v1/treasury/wallets/${t0.id}/entries?limit=3`, undefined, auth);
      expect(page.res.status).toBe(200);
      expect(page.body.data.map((e: Json) => [e.kind, e.amount]).sort()).toEqual([["payment", "-10.00"], ["payment", "-10.13"], ["payment", "-7.50"]]);
      expect(page.body.data.map((e: Json) => e.ref_id).sort()).toEqual([results[0].response.transfer_id, results[1].response.transfer_id, results[2].response.transfer_id].sort());
      // Another client cannot read this treasury.
      expect((await v1("GET", `/v1/treasury/wallets/${t0.id}/entries`, undefined, basicOf(main.creds.clients[0]))).res.status).toBe(404);

      // A retry re-attempts the rail leg only: declined again, nothing credited again.
      const retried = await v1("POST", `/v1/batches/${id}/retry`, { items: [1] }, auth);
      expect(retried.res.status, retried.text).toBe(202);
      expect(await settledBatch()).toMatchObject({ status: "completed_with_failures" });
      const again = (await v1("GET", `/v1/batches/${id}/results`, undefined, auth)).body.data[1];
      expect([again.attempt, again.response.outcome, again.response.transfer_id]).toEqual([2, "retained_in_wallet", results[1].response.transfer_id]);
      expect(again.response.payout_id).not.toBe(results[1].response.payout_id);
      expect(await balances(main, [a, b])).toEqual(mid);
      expect(toMinor((await treasury()).balance)).toBe(toMinor(t0.balance) - 2763);

      // A customer_transaction_id belongs to its batch: another batch reusing it is 409, nothing stored.
      const reused = await v1("POST", "/v1/batches", { items: [{ ...item(a.user_id, "1.00", "ach", 0), idempotency_key: `po-${tag}-fresh` }] }, auth);
      expect(reused.res.status).toBe(409);
      expect(reused.body.error).toMatchObject({ code: "customer_transaction_id_in_use", details: { batch_id: id, batch_index: 0 } });
    });

    it("takes a request body over 1 MiB on /v1/batches while the classic surface keeps its 1 MiB limit", async () => {
      const pad = "p".repeat(1_500_000);
      const big = await rawIsolated(main, "/v1/batches", JSON.stringify({ label: "big", metadata: { pad } }), {
        "content-type": "application/json",
        authorization: basicOf(main.creds.clients[0]),
      });
      expect(big.res.status, big.text.slice(0, 200)).toBe(201);
      const classic = await rawIsolated(main, "/batch/create", JSON.stringify({ calls: [{ call: "/user" }], pad }), { "content-type": "application/json" });
      expect(classic.res.status).toBe(413);
    });
  });

  describe(`${runtime}: operations`, () => {
    it("answers /healthz and /readyz, echoing a well-formed X-Request-Id and replacing a malformed one", async () => {
      const h = await raw(main, "/healthz", undefined, { "x-request-id": "abc-123" }, "GET");
      expect(h.res.status).toBe(200);
      expect(h.body).toEqual({ status: "ok", request_id: "abc-123" });
      expect(h.res.headers.get("x-request-id")).toBe("abc-123");
      const r = await raw(main, "/readyz", undefined, { "x-request-id": "bad id\twith junk" }, "GET");
      expect(r.res.status).toBe(200);
      expect(r.body.status).toBe("ready");
      expect(r.res.headers.get("x-request-id")).toMatch(/^req_/);
    });

    it("serves /openapi.json, and /docs with its script and styles from the gateway itself", async () => {
      const doc = await raw(main, "/openapi.json", undefined, {}, "GET");
      expect(doc.res.status).toBe(200);
      expect(doc.body.openapi).toBe("3.1.0");
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(["/batch/create", "/v2/batch/create", "/v2/wallet/find", "/healthz"]));
      const page = await raw(main, "/docs", undefined, {}, "GET");
      expect(page.res.status).toBe(200);
      expect(page.res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(page.text).toContain('src="/docs/assets/swagger-ui-bundle.js"');
      expect(page.text).not.toMatch(/https?:\/\//);
      const script = await raw(main, "/docs/assets/swagger-ui-bundle.js", undefined, {}, "GET");
      expect(script.res.status).toBe(200);
      expect(script.res.headers.get("content-type")).toMatch(/^text\/javascript/);
      expect(script.text).toContain("SwaggerUIBundle");
      const style = await raw(main, "/docs/assets/swagger-ui.css", undefined, {}, "GET");
      expect(style.res.status).toBe(200);
      expect(style.text).toContain(".swagger-ui");
      const other = await raw(main, "/docs/assets/package.json", undefined, {}, "GET");
      expect(other.res.status).toBe(404);
      expect(other.body.error).toBe("route_not_found");
    });

    it("writes structured JSON log lines with request ids, and never a secret or token", async () => {
      const [c] = main.creds.clients;
      const [a] = users();
      await batch(main, [{ call: "/user", authorization: a.access_token }, { call: "/user", authorization: "at_not_a_real_token_value" }], {
        headers: { "x-request-id": `${runtime}-log-check` },
      });
      await raw(main, "/batch/create", JSON.stringify({ client_id: c.client_id, client_secret: "wrong-secret-value", calls: [] }), {
        "content-type": "application/json",
        "x-request-id": `${runtime}-log-check-401`,
      });
      await single(main, "/wallet/find", a.access_token, { wallet_id: "wal_nope" }, { "x-request-id": `${runtime}-log-check-single` });
      // Log lines may reach the output a moment after the response (bounded wait).
      let lines: Json[] = [];
      for (let i = 0; i < 50; i++) {
        lines = main
          .output()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .flatMap((l) => {
            try {
              return [JSON.parse(l)];
            } catch {
              return []; // a line cut by interleaved stdout/stderr chunks
            }
          });
        if (lines.some((l) => l.request_id === `${runtime}-log-check-single`)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const access = lines.find((l) => l.request_id === `${runtime}-log-check` && l.msg === "request");
      expect(access).toMatchObject({ level: "info", service: "batchgate", method: "POST", path: "/batch/create", status: 200, client_id: c.client_id, calls: 2 });
      expect(new Date(access.time).toISOString()).toBe(access.time);
      expect(lines.find((l) => l.request_id === `${runtime}-log-check-401` && l.msg === "request")).toMatchObject({ status: 401 });
      expect(lines.find((l) => l.request_id === `${runtime}-log-check-single` && l.msg === "request")).toMatchObject({ status: 404, path: "/v2/wallet/find" });
      const text = lines.map((l) => JSON.stringify(l)).join("\n");
      for (const secret of [...main.creds.clients.map((x) => x.client_secret), ...main.creds.users.map((u) => u.access_token), "wrong-secret-value", "at_not_a_real_token_value"]) {
        expect(text).not.toContain(secret);
      }
    });

    it("reported no uncaught error and no unhandled handler failure through the whole suite", () => {
      for (const t of [main, tight]) {
        expect(t.output()).not.toMatch(/Uncaught|restarted mid-request|"msg":"unhandled error"|"msg":"handler threw"/);
      }
    });
  });
}
