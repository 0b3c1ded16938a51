/**
 * @module
 * GET /v1/webhook-endpoints/{id}/deliveries: every delivery attempt to the endpoint, newest first,
 * cursor-paged; POST /v1/webhook-endpoints/{id}/deliveries/{delivery_id}/resend: send a delivery
 * again by hand (same body, same webhook-id, a fresh retry schedule).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { authenticateBasicClient } from "../../../src/http/client-auth.js";
import type { AppEnv } from "../../../src/http/env.js";
import { attemptView, basicSecurity, deliveryView, EndpointIdParam, v1Errors, WebhookAttempt, WebhookDelivery } from "./schemas.js";

const tags = ["Webhooks"];

const DeliveriesQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, "must be a whole number from 1 to 100")
    .transform(Number)
    .refine((n) => n >= 1 && n <= 100, "must be from 1 to 100")
    .optional()
    .openapi({ param: { name: "limit", in: "query" }, description: "1 to 100 (default 20)", type: "integer" }),
  starting_after: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .openapi({ param: { name: "starting_after", in: "query" }, description: "The last attempt id of the previous page" }),
});

const listDeliveriesRoute = createRoute({
  method: "get",
  path: "/v1/webhook-endpoints/{id}/deliveries",
  tags,
  summary: "Every delivery attempt to an endpoint",
  description: "Newest first. Page with `starting_after` = the last `id` of the previous page while `has_more` is true.",
  security: basicSecurity,
  request: { params: EndpointIdParam, query: DeliveriesQuery },
  responses: {
    200: {
      description: "A page of attempts",
      content: { "application/json": { schema: z.object({ data: z.array(WebhookAttempt), has_more: z.boolean() }) } },
    },
    ...v1Errors([400, 401, 404, 503]),
  },
});

const resendRoute = createRoute({
  method: "post",
  path: "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/resend",
  tags,
  summary: "Send a delivery again",
  description: "The same body with the same `webhook-id` (freshly signed), as soon as possible, with a fresh retry schedule. 409 while it is being attempted, or when the endpoint is disabled.",
  security: basicSecurity,
  request: {
    params: EndpointIdParam.extend({
      delivery_id: z.string().min(1).max(64).openapi({ param: { name: "delivery_id", in: "path" }, description: "A delivery id (whd_…) from the attempts list" }),
    }),
  },
  responses: {
    202: { description: "Queued to be sent again", content: { "application/json": { schema: WebhookDelivery } } },
    ...v1Errors([400, 401, 404, 409, 503]),
  },
});

export function registerWebhookDeliveryRoutes<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(listDeliveriesRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const query = c.req.valid("query");
      const page = await c.get("services").webhooks.listAttempts(client.clientId, c.req.valid("param").id, {
        limit: query.limit ?? 20,
        startingAfter: query.starting_after,
      });
      return c.json({ data: page.attempts.map(attemptView), has_more: page.hasMore }, 200);
    })
    .openapi(resendRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const { id, delivery_id } = c.req.valid("param");
      const message = await c.get("services").webhooks.resend(client.clientId, id, delivery_id);
      return c.json(deliveryView(message), 202);
    });
}
