/**
 * @module
 * GET /v1/batches, GET /v1/batches/{id} and GET /v1/batches/{id}/results: reading asynchronous
 * batches and their items' outcomes (cursor-paged).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../../src/http/env.js";
import { BATCH_STATUSES, ITEM_STATUSES } from "../../../src/ports/batches.js";
import { Batch, BatchIdParam, BatchList, BatchResults, batchClient, batchSecurity, jsonOf, v1Errors } from "./schemas.js";

const tags = ["Asynchronous batches"];
const limit = z.coerce.number().int().min(1).max(1000).optional().describe("Page size, 1 to 1000 (default 100)");

const ListQuery = z.object({
  limit,
  starting_after: z.string().min(1).max(64).optional().describe("A batch id: the page of older batches after it"),
  ending_before: z.string().min(1).max(64).optional().describe("A batch id: the page of newer batches before it"),
  status: z.enum(BATCH_STATUSES).optional(),
});

const ResultsQuery = z.object({
  limit,
  starting_after: z.coerce.number().int().min(0).optional().describe("An item index: the items after it"),
  status: z.enum(ITEM_STATUSES).optional(),
  include_request: z.enum(["true", "false"]).optional().describe("Echo each item's request (never its token) and metadata"),
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/batches",
  tags,
  summary: "List the client's batches, newest first",
  security: batchSecurity,
  request: { query: ListQuery },
  responses: { 200: jsonOf(BatchList, "A page of batches"), ...v1Errors([400, 401, 503]) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/batches/{id}",
  tags,
  summary: "A batch: status, counts, progress",
  security: batchSecurity,
  request: { params: BatchIdParam },
  responses: { 200: jsonOf(Batch, "The batch"), ...v1Errors([401, 404, 503]) },
});

const resultsRoute = createRoute({
  method: "get",
  path: "/v1/batches/{id}/results",
  tags,
  summary: "The batch's items and their outcomes, by index",
  security: batchSecurity,
  request: { params: BatchIdParam, query: ResultsQuery },
  responses: { 200: jsonOf(BatchResults, "A page of item results"), ...v1Errors([400, 401, 404, 503]) },
});

export function registerBatchReads<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(listRoute, (c) => (async () => {
      const client = await batchClient(c);
      const q = ListQuery.parse(c.req.query());
      return c.json(await c.get("services").asyncBatches.list(client.clientId, { ...q, limit: q.limit ?? 100 }), 200);
    })() as Promise<never>)
    .openapi(getRoute, (c) => (async () => {
      const client = await batchClient(c);
      return c.json(await c.get("services").asyncBatches.get(client.clientId, c.req.param("id")!), 200);
    })() as Promise<never>)
    .openapi(resultsRoute, (c) => (async () => {
      const client = await batchClient(c);
      const q = ResultsQuery.parse(c.req.query());
      const out = await c.get("services").asyncBatches.results(client.clientId, c.req.param("id")!, {
        limit: q.limit ?? 100,
        starting_after: q.starting_after,
        status: q.status,
        include_request: q.include_request === "true",
      });
      return c.json(out, 200);
    })() as Promise<never>);
}
