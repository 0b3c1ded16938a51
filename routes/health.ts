/**
 * @module
 * GET /healthz (the process is up) and GET /readyz (the store answers).
 */
import type { Hono } from "hono";
import type { AppEnv } from "./env.js";

export function registerHealth(app: Hono<AppEnv>) {
  app.get("/healthz", (c) => c.json({ status: "ok", request_id: c.get("requestId") }));
  app.get("/readyz", async (c) => {
    try {
      await c.get("services").store.ping();
      return c.json({ status: "ready", request_id: c.get("requestId") });
    } catch {
      return c.json({ status: "unavailable", store: "unreachable", request_id: c.get("requestId") }, 503);
    }
  });
}
