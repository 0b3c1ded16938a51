/**
 * @module
 * POST /v1/batches (create), POST /v1/batches/{id}/items, /process, /retry and /cancel: the
 * routes that change an asynchronous batch (DESIGN §1.4). Each authenticates the API client
 * (HTTP Basic), checks the body, and calls the AsyncBatches service (src/core/async-batches.ts).
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../../src/http/env.js";
import {
  AddItemsBody,
  AddItemsEnvelope,
  Batch,
  BatchIdParam,
  batchClient,
  batchSecurity,
  bodyOf,
  CreateBatchBody,
  CreateBatchEnvelope,
  describedJsonBody,
  jsonOf,
  RetryBody,
  RetryResult,
  v1Errors,
} from "./schemas.js";

const tags = ["Asynchronous batches"];
const body = (schema: Parameters<typeof describedJsonBody>[0], required = true) => ({ ...describedJsonBody(schema), required });

const createBatchRoute = createRoute({
  method: "post",
  path: "/v1/batches",
  tags,
  summary: "Create a batch (optionally with items, and submitted at once)",
  security: batchSecurity,
  request: { body: body(CreateBatchBody) },
  responses: {
    201: jsonOf(Batch, "Created, building"),
    200: jsonOf(Batch, "A batch with this idempotency_key already exists: that batch"),
    202: jsonOf(Batch, "Created with items and submitted (process: true)"),
    ...v1Errors([400, 401, 409, 413, 415, 422, 503]),
  },
});

const addItemsRoute = createRoute({
  method: "post",
  path: "/v1/batches/{id}/items",
  tags,
  summary: "Add items to a building batch",
  security: batchSecurity,
  request: { params: BatchIdParam, body: body(AddItemsBody) },
  responses: { 200: jsonOf(Batch, "The batch with the items added"), ...v1Errors([400, 401, 404, 409, 413, 415, 422, 503]) },
});

const processRoute = createRoute({
  method: "post",
  path: "/v1/batches/{id}/process",
  tags,
  summary: "Submit a building batch for processing",
  security: batchSecurity,
  request: { params: BatchIdParam },
  responses: { 202: jsonOf(Batch, "Accepted: processing in the background"), ...v1Errors([401, 404, 409, 422, 503]) },
});

const retryRoute = createRoute({
  method: "post",
  path: "/v1/batches/{id}/retry",
  tags,
  summary: "Run failed items again (a new attempt each; succeeded items answer ALREADY_COMPLETED)",
  security: batchSecurity,
  request: { params: BatchIdParam, body: body(RetryBody, false) },
  responses: {
    202: jsonOf(RetryResult, "Some items got a new attempt: the batch is processing again"),
    200: jsonOf(RetryResult, "Nothing to retry"),
    ...v1Errors([400, 401, 404, 409, 415, 503]),
  },
});

const cancelRoute = createRoute({
  method: "post",
  path: "/v1/batches/{id}/cancel",
  tags,
  summary: "Cancel a batch: items not yet run are cancelled",
  security: batchSecurity,
  request: { params: BatchIdParam },
  responses: { 200: jsonOf(Batch, "Cancelled"), ...v1Errors([401, 404, 409, 503]) },
});

export function registerBatchLifecycle<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(createBatchRoute, (c) => (async () => {
      const client = await batchClient(c);
      const input = await bodyOf(c, CreateBatchEnvelope);
      const out = await c.get("services").asyncBatches.create(client.clientId, input);
      return c.json(out.batch, out.status);
    })() as Promise<never>)
    .openapi(addItemsRoute, (c) => (async () => {
      const client = await batchClient(c);
      const input = await bodyOf(c, AddItemsEnvelope);
      return c.json(await c.get("services").asyncBatches.addItems(client.clientId, c.req.param("id")!, input.items), 200);
    })() as Promise<never>)
    .openapi(processRoute, (c) => (async () => {
      const client = await batchClient(c);
      return c.json(await c.get("services").asyncBatches.process(client.clientId, c.req.param("id")!), 202);
    })() as Promise<never>)
    .openapi(retryRoute, (c) => (async () => {
      const client = await batchClient(c);
      const input = await bodyOf(c, RetryBody, true);
      const out = await c.get("services").asyncBatches.retry(client.clientId, c.req.param("id")!, input.items);
      return c.json(out, out.retried_count > 0 ? 202 : 200);
    })() as Promise<never>)
    .openapi(cancelRoute, (c) => (async () => {
      const client = await batchClient(c);
      return c.json(await c.get("services").asyncBatches.cancel(client.clientId, c.req.param("id")!), 200);
    })() as Promise<never>);
}
