/**
 * @module
 * GET /admin/v1/audit: every admin action (who, what, which target, when, under which request),
 * newest first.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";
import { AdminAuditRecord, adminErrors, auditView, json, ListQuery, listOf, pageRequest, renderList, SECURITY, TAG } from "./schemas.js";

const list = createRoute({
  method: "get",
  path: "/admin/v1/audit",
  tags: [TAG],
  summary: "The audit log of admin actions, newest first",
  security: SECURITY,
  request: { query: ListQuery },
  responses: { 200: json(listOf(AdminAuditRecord, "AdminAuditList"), "A page of audit records"), ...adminErrors([400]) },
});

export function registerAdminAudit<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app.openapi(list, async (c) => {
    const page = await c.get("services").admin.listAudit(pageRequest(c.req.valid("query")));
    return c.json(renderList(page, auditView, (v) => v.audit_id), 200);
  });
}
