/**
 * @module
 * The /v1 surface (atomic payment batches, asynchronous batches, webhooks, the client's treasury), registered here as it
 * lands. Its errors already have their shape: anything under /v1/ — an unknown path, a body over
 * the limit — is rendered as `{"error": {"code", "message", "request_id", "details"?}}`.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";
import { registerBatches } from "./batches/index.js";
import { registerPaymentsBatch } from "./payments-batch.js";
import { registerTreasury } from "./treasury/index.js";
import { registerWebhookEndpoints } from "./webhook-endpoints/index.js";

export function registerV1<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return registerTreasury(registerBatches(registerWebhookEndpoints(registerPaymentsBatch(app))));
}
