/**
 * @module
 * POST /v1/webhook-endpoints/{id}/rotate-secret: a new signing secret, shown once. The previous
 * secret keeps signing beside it (two signatures in `webhook-signature`) for a grace period, so a
 * receiver can switch without losing messages.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { authenticateBasicClient } from "../../../src/http/client-auth.js";
import type { AppEnv } from "../../../src/http/env.js";
import { describedJsonBody } from "../../schemas.js";
import { basicSecurity, EndpointIdParam, endpointView, readBody, RotateSecretBody, v1Errors, WebhookEndpointWithSecret } from "./schemas.js";

const rotateSecretRoute = createRoute({
  method: "post",
  path: "/v1/webhook-endpoints/{id}/rotate-secret",
  tags: ["Webhooks"],
  summary: "Rotate an endpoint's signing secret",
  description:
    "Answers a new `whsec_` secret (shown only here). Until `previous_secret_expires_at` (by default 24 h, `grace_period_seconds` to choose; 0 ends it at once) every message carries two signatures, one per secret, so a receiver verifying with either keeps working.",
  security: basicSecurity,
  request: { params: EndpointIdParam, body: describedJsonBody(RotateSecretBody) },
  responses: {
    200: { description: "The endpoint with its new secret (shown once)", content: { "application/json": { schema: WebhookEndpointWithSecret } } },
    ...v1Errors([400, 401, 404, 413, 415, 503]),
  },
});

export function registerWebhookSecretRoutes<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app.openapi(rotateSecretRoute, async (c) => {
    const client = await authenticateBasicClient(c);
    const input = await readBody(c, RotateSecretBody, { allowEmpty: true });
    const { webhooks } = c.get("services");
    const grace = input.grace_period_seconds === undefined ? undefined : input.grace_period_seconds * 1000;
    const { endpoint, secret } = await webhooks.rotateSecret(client.clientId, c.req.valid("param").id, grace);
    return c.json({ ...endpointView(endpoint, webhooks.now()), secret }, 200);
  });
}
