/**
 * @module
 * The METRICS_PORT listener: GET /metrics without authentication, on its own port bound to HOST,
 * so Prometheus can scrape from a private network without the operator key. This port must not
 * be reachable from the public internet.
 */
import { serve, type ServerType } from "@hono/node-server";
import type { Metrics } from "../../ports/metrics.js";

export function serveMetrics(metrics: Metrics, port: number, hostname: string, onListening?: (port: number) => void): ServerType {
  return serve(
    {
      port,
      hostname,
      fetch: async (request) => {
        const { pathname } = new URL(request.url);
        if (pathname !== "/metrics") return new Response("Not found: this port serves GET /metrics only.\n", { status: 404, headers: { "content-type": "text/plain" } });
        if (request.method !== "GET" && request.method !== "HEAD") return new Response("Method not allowed.\n", { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain" } });
        return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
      },
    },
    (info) => onListening?.(info.port),
  );
}
