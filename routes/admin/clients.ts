/**
 * @module
 * POST /admin/v1/clients, /admin/v1/clients/{client_id}/rotate-secret, /admin/v1/clients/{client_id}/disable:
 * API clients. A secret is shown once, in the answer that made it.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";
import { actorOf, AdminClient, AdminClientWithSecret, adminErrors, body, ClientIdParam, clientView, json, SECURITY, TAG } from "./schemas.js";

export const CreateClientBody = z.strictObject({ name: z.string().trim().min(1).max(200).describe("A name for the client (the partner)") });

const create = createRoute({
  method: "post",
  path: "/admin/v1/clients",
  tags: [TAG],
  summary: "Create an API client (its secret is shown once)",
  security: SECURITY,
  request: { body: body(CreateClientBody) },
  responses: { 201: json(AdminClientWithSecret, "The client, with its secret"), ...adminErrors([400, 415]) },
});

const rotate = createRoute({
  method: "post",
  path: "/admin/v1/clients/{client_id}/rotate-secret",
  tags: [TAG],
  summary: "Give a client a new secret (the old one stops working at once)",
  security: SECURITY,
  request: { params: ClientIdParam },
  responses: { 200: json(AdminClientWithSecret, "The client, with its new secret"), ...adminErrors([400]) },
});

const disable = createRoute({
  method: "post",
  path: "/admin/v1/clients/{client_id}/disable",
  tags: [TAG],
  summary: "Disable a client: its credentials fail invalid_client everywhere",
  security: SECURITY,
  request: { params: ClientIdParam },
  responses: { 200: json(AdminClient, "The disabled client"), ...adminErrors([400]) },
});

export function registerAdminClients<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(create, async (c) => {
      const { name } = c.req.valid("json");
      const { client, clientSecret } = await c.get("services").admin.createClient(name, actorOf(c));
      return c.json({ ...clientView(client), client_secret: clientSecret }, 201);
    })
    .openapi(rotate, async (c) => {
      const { client, clientSecret } = await c.get("services").admin.rotateClientSecret(Number(c.req.valid("param").client_id), actorOf(c));
      return c.json({ ...clientView(client), client_secret: clientSecret }, 200);
    })
    .openapi(disable, async (c) => {
      const client = await c.get("services").admin.disableClient(Number(c.req.valid("param").client_id), actorOf(c));
      return c.json(clientView(client), 200);
    });
}
