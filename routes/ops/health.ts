/**
 * @module
 * GET /healthz (the process is up) and GET /readyz (the store answers).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";

const Health = z.object({ status: z.literal("ok"), request_id: z.string() });
const Ready = z.object({ status: z.literal("ready"), request_id: z.string() });
const NotReady = z.object({ status: z.literal("unavailable"), store: z.literal("unreachable"), request_id: z.string() });

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["Operations"],
  summary: "The process is up",
  responses: { 200: { description: "Up", content: { "application/json": { schema: Health } } } },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  tags: ["Operations"],
  summary: "The store answers",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: Ready } } },
    503: { description: "The store does not answer", content: { "application/json": { schema: NotReady } } },
  },
});

export function registerHealth<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(healthz, (c) => c.json({ status: "ok" as const, request_id: c.get("requestId") }, 200))
    .openapi(readyz, async (c) => {
      try {
        await c.get("services").store.ping();
        return c.json({ status: "ready" as const, request_id: c.get("requestId") }, 200);
      } catch {
        return c.json({ status: "unavailable" as const, store: "unreachable" as const, request_id: c.get("requestId") }, 503);
      }
    });
}
