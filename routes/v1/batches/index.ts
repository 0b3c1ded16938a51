/**
 * @module
 * /v1/batches: asynchronous batches of calls (DESIGN §1.4).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../../src/http/env.js";
import { registerBatchLifecycle } from "./lifecycle.js";
import { registerBatchReads } from "./read.js";

export function registerBatches<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return registerBatchReads(registerBatchLifecycle(app));
}
