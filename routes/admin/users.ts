/**
 * @module
 * POST /admin/v1/users: end users.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";
import { actorOf, adminErrors, AdminUser, body, json, SECURITY, TAG, userView } from "./schemas.js";

export const CreateUserBody = z.strictObject({
  email: z.email().max(254),
  first_name: z.string().trim().min(1).max(100),
  last_name: z.string().trim().min(1).max(100),
});

const create = createRoute({
  method: "post",
  path: "/admin/v1/users",
  tags: [TAG],
  summary: "Create a user",
  security: SECURITY,
  request: { body: body(CreateUserBody) },
  responses: { 201: json(AdminUser, "The user"), ...adminErrors([400, 415]) },
});

export function registerAdminUsers<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app.openapi(create, async (c) => {
    const b = c.req.valid("json");
    const user = await c.get("services").admin.createUser({ email: b.email, firstName: b.first_name, lastName: b.last_name }, actorOf(c));
    return c.json(userView(user), 201);
  });
}
