/**
 * GET /openapi.json: a valid OpenAPI 3.1 document (checked by an independent validator) that
 * describes every registered call — built-ins with their exact parameters and responses, upstreams
 * from UPSTREAMS_FILE as free objects — the batch envelope, the security schemes, the headers and
 * the whole error catalog.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { beforeAll, describe, expect, it } from "vitest";
import { ERROR_CATALOG } from "../../src/core/errors.js";
import { makeGateway, tempDir, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
let doc: any;

beforeAll(async () => {
  const file = join(tempDir(), "upstreams.json");
  writeFileSync(file, JSON.stringify({ upstreams: [{ call: "/checkout/create", url: "http://127.0.0.1:9/checkout", summary: "Start a checkout" }] }));
  gw = await makeGateway({ env: { UPSTREAMS_FILE: file } });
  const res = await gw.app.request("/openapi.json");
  expect(res.status).toBe(200);
  doc = await res.json();
});

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("lists every endpoint and every registered call as its own /v2 operation", () => {
    for (const path of ["/batch/create", "/v2/batch/create"]) expect(doc.paths[path]?.post, path).toBeDefined();
    for (const path of ["/healthz", "/readyz", "/openapi.json", "/docs"]) expect(doc.paths[path]?.get, path).toBeDefined();
    const names = gw.services.handlers.all().map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(["/user", "/wallet/find", "/wallet/list", "/payment/create", "/payment/reverse", "/payout/create", "/payout/find", "/payout/cancel", "/checkout/create"]));
    for (const name of names) expect(doc.paths[`/v2${name}`]?.post, name).toBeDefined();
  });

  it("describes a call's parameters as the caller sends them and its response exactly", () => {
    const op = doc.paths["/v2/payment/create"].post;
    const params = op.requestBody.content["application/json"].schema;
    // The input side of the schema: amount is the decimal string; the transform's `minor` is not asked for.
    expect(params.properties.amount.type).toBe("string");
    expect(params.properties).not.toHaveProperty("minor");
    expect(params.required).toEqual(expect.arrayContaining(["from_wallet_id", "to_wallet_id", "amount", "currency"]));
    expect(params.additionalProperties).toBe(false);
    expect(op.security).toEqual([{ bearerAuth: [] }]);
    expect(op.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: "Idempotency-Key", in: "header" })]));
    const ok = op.responses["200"];
    expect(Object.keys(ok.headers)).toEqual(expect.arrayContaining(["RateLimit-Policy", "RateLimit", "Retry-After"]));
    const response = ok.content["application/json"].schema;
    expect(Object.keys(response.properties).sort()).toEqual(
      ["amount", "created_at", "currency", "description", "from_wallet_id", "payment_id", "reversed_at", "status", "to_wallet_id"],
    );
    expect(op.responses["422"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ClassicError" });
    // A payout's destination depends on its rail: one alternative per rail.
    const payout = doc.paths["/v2/payout/create"].post.requestBody.content["application/json"].schema;
    expect(JSON.stringify(payout)).toContain("routing_number");
    expect(JSON.stringify(payout)).toContain("card_token");
  });

  it("describes an upstream call with free-object parameters and response", () => {
    const op = doc.paths["/v2/checkout/create"].post;
    expect(op.summary).toBe("Start a checkout");
    expect(op.requestBody.content["application/json"].schema).toEqual({ type: "object", additionalProperties: true });
    expect(op.responses["200"].content["application/json"].schema.type).toBe("object");
  });

  it("describes the batch envelope, its credentials and results", () => {
    const op = doc.paths["/batch/create"].post;
    const env = op.requestBody.content["application/json"].schema;
    expect(env.required).toEqual(["calls"]);
    expect(Object.keys(env.properties).sort()).toEqual(["atomic", "calls", "client_id", "client_secret"]);
    expect(Object.keys(env.properties.calls.items.properties).sort()).toEqual(["authorization", "call", "idempotency_key", "parameters", "reference_id"]);
    // HTTP Basic, or no header scheme at all: the credentials are then the body's client_id and client_secret.
    expect(op.security).toEqual([{ basicAuth: [] }, {}]);
    expect(env.properties.client_id.description).toMatch(/in the body/);
    expect(doc.components.securitySchemes.basicAuth).toMatchObject({ type: "http", scheme: "basic" });
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(op.responses["200"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/BatchResponse" });
  });

  it("lists every catalog code, and both error shapes", () => {
    expect([...doc.components.schemas.ErrorCode.enum].sort()).toEqual(Object.keys(ERROR_CATALOG).sort());
    expect(doc.components.schemas.ClassicError.required).toEqual(expect.arrayContaining(["error", "error_description", "error_code", "request_id"]));
    expect(doc.components.schemas.V1Error.properties.error.required).toEqual(expect.arrayContaining(["code", "message", "request_id"]));
  });
});
