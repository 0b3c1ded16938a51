/**
 * @module
 * POST, GET /v1/webhook-endpoints and GET, DELETE /v1/webhook-endpoints/{id}: an API client's
 * webhook endpoints (HTTP Basic with the client's credentials). The signing secret is in the
 * create answer only.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { authenticateBasicClient } from "../../../src/http/client-auth.js";
import type { AppEnv } from "../../../src/http/env.js";
import { describedJsonBody } from "../../schemas.js";
import {
  basicSecurity,
  CreateEndpointBody,
  EndpointIdParam,
  endpointView,
  readBody,
  v1Errors,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from "./schemas.js";

const tags = ["Webhooks"];

const createEndpointRoute = createRoute({
  method: "post",
  path: "/v1/webhook-endpoints",
  tags,
  summary: "Register a webhook endpoint",
  description:
    "Events of this client's asynchronous batches are POSTed to `url`, signed per Standard Webhooks with the `whsec_` secret shown in this answer only. The URL must be https and must not resolve to a private, loopback or link-local address.",
  security: basicSecurity,
  request: { body: { ...describedJsonBody(CreateEndpointBody), required: true } },
  responses: {
    201: { description: "The endpoint, with its secret (shown once)", content: { "application/json": { schema: WebhookEndpointWithSecret } } },
    ...v1Errors([400, 401, 413, 415, 422, 503]),
  },
});

const listEndpointsRoute = createRoute({
  method: "get",
  path: "/v1/webhook-endpoints",
  tags,
  summary: "List the client's webhook endpoints",
  security: basicSecurity,
  responses: {
    200: { description: "Every endpoint of the client, oldest first (never a secret)", content: { "application/json": { schema: z.object({ data: z.array(WebhookEndpoint) }) } } },
    ...v1Errors([401, 503]),
  },
});

const getEndpointRoute = createRoute({
  method: "get",
  path: "/v1/webhook-endpoints/{id}",
  tags,
  summary: "One webhook endpoint",
  security: basicSecurity,
  request: { params: EndpointIdParam },
  responses: {
    200: { description: "The endpoint (never its secret)", content: { "application/json": { schema: WebhookEndpoint } } },
    ...v1Errors([400, 401, 404, 503]),
  },
});

const deleteEndpointRoute = createRoute({
  method: "delete",
  path: "/v1/webhook-endpoints/{id}",
  tags,
  summary: "Delete a webhook endpoint",
  description: "Nothing more is sent to it; its undelivered messages fail.",
  security: basicSecurity,
  request: { params: EndpointIdParam },
  responses: {
    200: { description: "Deleted", content: { "application/json": { schema: z.object({ id: z.string(), deleted: z.literal(true) }) } } },
    ...v1Errors([400, 401, 404, 503]),
  },
});

export function registerWebhookEndpointRoutes<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(createEndpointRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const input = await readBody(c, CreateEndpointBody, { allowEmpty: false });
      const { webhooks } = c.get("services");
      const { endpoint, secret } = await webhooks.createEndpoint(client.clientId, {
        url: input.url,
        events: input.events,
        itemEvents: input.item_events,
        description: input.description,
      });
      return c.json({ ...endpointView(endpoint, endpoint.createdAt), secret }, 201);
    })
    .openapi(listEndpointsRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const { webhooks } = c.get("services");
      const now = webhooks.now();
      return c.json({ data: (await webhooks.listEndpoints(client.clientId)).map((e) => endpointView(e, now)) }, 200);
    })
    .openapi(getEndpointRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const { webhooks } = c.get("services");
      return c.json(endpointView(await webhooks.getEndpoint(client.clientId, c.req.valid("param").id), webhooks.now()), 200);
    })
    .openapi(deleteEndpointRoute, async (c) => {
      const client = await authenticateBasicClient(c);
      const id = c.req.valid("param").id;
      await c.get("services").webhooks.deleteEndpoint(client.clientId, id);
      return c.json({ id, deleted: true as const }, 200);
    });
}
