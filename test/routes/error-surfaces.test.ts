/**
 * One error renderer, two surfaces: the same failure answers the classic body on /batch/create and
 * /v2/*, and `{"error": {"code", "message", "request_id", "details"?}}` on /v1/*, whether it comes
 * from the app, the worker's edge or a misconfigured worker.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { validationHook } from "../../routes/schemas.js";
import type { AppEnv } from "../../src/http/env.js";
import { renderThrown } from "../../src/http/on-error.js";
import { createEdgeHandler } from "../../src/adapters/workers/edge.js";
import { createGatewayHandler } from "../../src/adapters/workers/gateway.js";
import { GatewayError } from "../../src/core/errors.js";
import { errorBody, renderError, surfaceOf } from "../../src/http/errors.js";
import { fakeDurableObjectStorage } from "../helpers/fake-do-storage.js";
import { makeGateway } from "../helpers/gateway.js";

const classic = (code: string, errorCode: number, description: string | RegExp, requestId: string) => ({
  error: code,
  error_code: errorCode,
  error_description: description instanceof RegExp ? expect.stringMatching(description) : description,
  request_id: requestId,
});
const v1 = (code: string, message: string | RegExp, requestId: string) => ({
  error: { code, message: message instanceof RegExp ? expect.stringMatching(message) : message, request_id: requestId },
});

describe("error surfaces", () => {
  it("picks the surface by path prefix", () => {
    expect(["/v1", "/v1/payments/batch", "/admin/v1/clients"].map(surfaceOf)).toEqual(["v1", "v1", "v1"]);
    expect(["/batch/create", "/v2/user", "/healthz", "/v10/x", "/v1x", "/"].map(surfaceOf)).toEqual(Array(6).fill("classic"));
  });

  it("renders a body over the limit on both surfaces, with Connection: close", async () => {
    const gw = await makeGateway({ env: { MAX_BODY_BYTES: "1024" } });
    const send = (path: string) =>
      gw.app.request(path, { method: "POST", headers: { "content-type": "application/json", "x-request-id": `big${path.replaceAll("/", "-")}` }, body: JSON.stringify({ pad: "x".repeat(2000) }) });
    const a = await send("/v2/wallet/find");
    expect(a.status).toBe(413);
    expect(a.headers.get("connection")).toBe("close");
    expect(await a.json()).toEqual(classic("body_too_large", 1007, "The request body is larger than 1024 bytes.", "big-v2-wallet-find"));
    const b = await send("/v1/payments/batch");
    expect(b.status).toBe(413);
    expect(b.headers.get("connection")).toBe("close");
    expect(b.headers.get("x-request-id")).toBe("big-v1-payments-batch");
    expect(await b.json()).toEqual(v1("body_too_large", "The request body is larger than 1024 bytes.", "big-v1-payments-batch"));
  });

  it("renders an unknown route on both surfaces", async () => {
    const gw = await makeGateway();
    const a = await gw.app.request("/v2/nothing/here", { headers: { "x-request-id": "nf-1" } });
    expect(a.status).toBe(404);
    expect(await a.json()).toEqual(classic("route_not_found", 1010, "No endpoint GET /v2/nothing/here.", "nf-1"));
    const b = await gw.app.request("/v1/nothing/here", { method: "POST", headers: { "x-request-id": "nf-2" } });
    expect(b.status).toBe(404);
    expect(await b.json()).toEqual(v1("route_not_found", "No endpoint POST /v1/nothing/here.", "nf-2"));
  });

  it("renders malformed JSON on the classic surface as before", async () => {
    const gw = await makeGateway();
    const res = await gw.app.request("/v2/user", { method: "POST", headers: { "content-type": "application/json", "x-request-id": "bad-json" }, body: "{nope" });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(classic("invalid_json", 1001, "The request body is not valid JSON.", "bad-json"));
  });

  it("renders the worker edge's refusals on the request's surface", async () => {
    const edge = createEdgeHandler({ logSink: () => undefined, forward: async () => new Response("unreachable") });
    // /v1/batches has its own, larger limit (ASYNC_BATCH_MAX_BODY_BYTES): both set small here.
    const env = { MAX_BODY_BYTES: "1024", ASYNC_BATCH_MAX_BODY_BYTES: "1024" };
    const big = (path: string) => new Request(`http://gw${path}`, { method: "POST", headers: { "x-request-id": "edge-1" }, body: "x".repeat(2000) });
    expect(await (await edge(big("/batch/create"), env)).json()).toEqual(classic("body_too_large", 1007, "The request body is larger than 1024 bytes.", "edge-1"));
    expect(await (await edge(big("/v1/batches"), env)).json()).toEqual(v1("body_too_large", "The request body is larger than 1024 bytes.", "edge-1"));

    const down = createEdgeHandler({ logSink: () => undefined, forward: async () => Promise.reject(new Error("object reset")) });
    const res = await down(new Request("http://gw/v1/batches", { headers: { "x-request-id": "edge-2" } }), {});
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual(v1("service_unavailable", /may or may not have run/, "edge-2"));
  });

  it("renders a misconfigured worker's 503 on the request's surface", async () => {
    const gateway = createGatewayHandler({ CLIENT_RATE_LIMIT_POINTS: "lots" }, fakeDurableObjectStorage(), { logSink: () => undefined });
    const a = (await (await gateway.fetch(new Request("http://gw/v2/user", { method: "POST" }))).json()) as any;
    expect(a).toEqual(classic("service_unavailable", 5002, /CLIENT_RATE_LIMIT_POINTS/, a.request_id));
    const res = await gateway.fetch(new Request("http://gw/v1/batches"));
    expect(res.status).toBe(503);
    const b = (await res.json()) as any;
    expect(b).toEqual(v1("service_unavailable", /CLIENT_RATE_LIMIT_POINTS/, b.error.request_id));
  });

  it("carries details on /v1 only, and per-call errors keep the classic shape without a request id", async () => {
    const err = new GatewayError("invalid_parameters", "calls[2].parameters.amount: is required", undefined, { field: "calls[2].parameters.amount", index: 2 });
    const entry = { code: err.code, message: err.message, details: err.details };
    expect(errorBody(entry, "v1", "r1")).toEqual({ error: { code: "invalid_parameters", message: err.message, request_id: "r1", details: { field: "calls[2].parameters.amount", index: 2 } } });
    expect(errorBody(entry, "classic", "r1")).toEqual({ error: "invalid_parameters", error_description: err.message, error_code: 1009, request_id: "r1" });
    const res = renderError(entry, "v1", "r1", { "Retry-After": "3" });
    expect(res.status).toBe(400);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(res.headers.get("x-request-id")).toBe("r1");

    const gw = await makeGateway();
    const { body } = await gw.batch([{ call: "/user", authorization: "at_nope", reference_id: "x" }]);
    expect(body.calls[0].response).toEqual({ error: "invalid_token", error_description: expect.any(String), error_code: 2003 });
  });

  it("turns a route's zod validation failure into invalid_body naming the field, on the route's surface", async () => {
    // A /v1-style route validated by @hono/zod-openapi, as the /v1 surfaces will be.
    const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
    app.use(async (c, next) => {
      c.set("requestId", "hook-1");
      await next();
    });
    const route = createRoute({
      method: "post",
      path: "/v1/things",
      request: { body: { required: true, content: { "application/json": { schema: z.strictObject({ amount: z.string() }) } } } },
      responses: { 200: { description: "ok" } },
    });
    app.openapi(route, (c) => c.json({ ok: true }, 200));
    app.onError((err, c) => renderThrown(c, err));
    const res = await app.request("/v1/things", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ amount: 5 }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: "invalid_body", message: expect.stringMatching(/^body\.amount: /), request_id: "hook-1", details: { field: "body.amount" } },
    });
    const ok = await app.request("/v1/things", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ amount: "5.00" }) });
    expect(ok.status).toBe(200);
  });
});
