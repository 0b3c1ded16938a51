/**
 * @module
 * The webhook-endpoint routes (/v1/webhook-endpoints...), registered in one chain.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../../src/http/env.js";
import { registerWebhookDeliveryRoutes } from "./deliveries.js";
import { registerWebhookEndpointRoutes } from "./endpoints.js";
import { registerWebhookSecretRoutes } from "./secrets.js";

export function registerWebhookEndpoints<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return registerWebhookDeliveryRoutes(registerWebhookSecretRoutes(registerWebhookEndpointRoutes(app)));
}
