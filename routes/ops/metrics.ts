/**
 * @module
 * GET /metrics: the Prometheus text exposition of the gateway's metrics (src/ports/metrics.ts),
 * for the operator: `Authorization: Bearer <ADMIN_API_KEY>`. Without ADMIN_API_KEY the route
 * answers 404, as if it did not exist (on Node, METRICS_PORT serves the same text on a separate
 * listener without authentication).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { GatewayError } from "../../src/core/errors.js";
import { verifyAdminKey } from "../../src/http/admin-auth.js";
import type { AppEnv } from "../../src/http/env.js";
import { classicErrors } from "../schemas.js";

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["Operations"],
  summary: "Prometheus metrics",
  description:
    "The gateway's counters, histograms and gauges in the Prometheus text format (version 0.0.4). Needs the operator key (`Authorization: Bearer <ADMIN_API_KEY>`); answers 404 when no ADMIN_API_KEY is configured.",
  security: [{ adminKey: [] }],
  responses: {
    200: { description: "The metrics", content: { "text/plain": { schema: z.string() } } },
    ...classicErrors([401, 404, 429]),
  },
});

export function registerMetrics<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "adminKey", {
    type: "http",
    scheme: "bearer",
    description: "The operator key (ADMIN_API_KEY), for the admin API and GET /metrics.",
  });
  return app.openapi(metricsRoute, async (c) => {
    const services = c.get("services");
    const header = c.req.header("authorization");
    const ok = await verifyAdminKey(services, header);
    if (ok === null) throw new GatewayError("route_not_found", "No endpoint GET /metrics.");
    if (!ok) {
      const challenge = { "WWW-Authenticate": 'Bearer realm="batchgate-admin"' };
      if (!header) throw new GatewayError("missing_authorization", "GET /metrics needs Authorization: Bearer <ADMIN_API_KEY>.", challenge);
      throw new GatewayError("invalid_token", "The operator key is not valid.", challenge);
    }
    const text = await services.metrics.render();
    return c.text(text, 200, { "content-type": services.metrics.contentType });
  });
}
