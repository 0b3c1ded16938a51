/**
 * @module
 * The admin API, /admin/v1/* (README "Operators"): every route behind the admin key (adminAuth:
 * 404 when ADMIN_API_KEY is not set, 401 invalid_admin_key without the right key), with JSON
 * bodies validated by their zod schemas and errors in the /v1 shape.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { Schema } from "hono/types";
import { GatewayError } from "../../src/core/errors.js";
import { adminAuth } from "../../src/http/admin-auth.js";
import type { AppEnv } from "../../src/http/env.js";
import { registerAdminAudit } from "./audit.js";
import { registerAdminClients } from "./clients.js";
import { registerAdminTokens } from "./tokens.js";
import { registerAdminUsers } from "./users.js";
import { registerAdminTreasury } from "./treasury.js";
import { registerAdminWallets } from "./wallets.js";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

/** A body that is not declared JSON is refused (415) rather than read as an empty object. */
function jsonBodiesOnly(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const type = c.req.header("content-type");
    const length = c.req.header("content-length");
    const hasBody = type !== undefined || (length !== undefined && length !== "0") || c.req.header("transfer-encoding") !== undefined;
    if ((c.req.method === "POST" || c.req.method === "PUT") && hasBody && !(type && JSON_TYPE.test(type))) {
      throw new GatewayError("unsupported_media_type", "The request body must be sent with Content-Type: application/json.");
    }
    await next();
  };
}

export function registerAdmin<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "adminKey", {
    type: "http",
    scheme: "bearer",
    description: "The operators' key, ADMIN_API_KEY. Without it configured, /admin/v1 answers 404.",
  });
  app.use("/admin/v1/*", adminAuth(), jsonBodiesOnly());
  return registerAdminTreasury(registerAdminAudit(registerAdminWallets(registerAdminTokens(registerAdminUsers(registerAdminClients(app))))));
}
