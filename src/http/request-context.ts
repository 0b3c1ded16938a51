/**
 * @module
 * Every request's id (a well-formed X-Request-Id is kept, anything else replaced), its logger,
 * the services on the context, and the access log line.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { newId } from "../core/ids.js";
import type { CounterChild, Metrics } from "../ports/metrics.js";
import type { Logger, LogFields } from "../ports/runtime.js";
import type { GatewayServices } from "../services.js";
import type { AppEnv } from "./env.js";

const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

/** The request's id: the caller's X-Request-Id when well formed, else a new one. */
export function requestIdOf(given: string | null | undefined): string {
  return given && REQUEST_ID.test(given) ? given : newId("req");
}

/** A child logger made only when the request first logs something (most never do). */
function lazyChild(parent: Logger, bindings: LogFields): Logger {
  let child: Logger | undefined;
  const get = () => (child ??= parent.child(bindings));
  return {
    debug: (f, m) => get().debug(f, m),
    info: (f, m) => get().info(f, m),
    warn: (f, m) => get().warn(f, m),
    error: (f, m) => get().error(f, m),
    child: (b) => get().child(b),
  };
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The route label: the pattern of the route the request addressed ("unmatched" when none), never the raw path. */
export function routeLabel(c: Context): string {
  // Middleware is registered for every method ("ALL"); the first route for this method is the one
  // that answers, also when a middleware (body limit, per-IP limit) refused the request before it.
  for (const r of matchedRoutes(c)) if (r.method !== "ALL") return r.path;
  return "unmatched";
}

/** batchgate_http_requests_total by method, route and status, one bound series per label set. */
function requestCounter(metrics: Metrics) {
  const children = new Map<string, CounterChild>();
  return (c: Context, status: number) => {
    const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
    const route = routeLabel(c);
    const key = `${method} ${status} ${route}`;
    let child = children.get(key);
    if (!child) {
      child = metrics.counter("batchgate_http_requests_total", { method, route, status: String(status) });
      children.set(key, child);
    }
    child.inc();
  };
}

export function requestContext(services: GatewayServices): MiddlewareHandler<AppEnv> {
  const countRequest = requestCounter(services.metrics);
  return async (c, next) => {
    const requestId = requestIdOf(c.req.header("x-request-id"));
    c.set("services", services);
    c.set("requestId", requestId);
    c.set("logger", lazyChild(services.logger, { request_id: requestId }));
    // Set before the route answers, so it is part of the response the route builds: setting it
    // afterwards would turn @hono/node-server's lightweight response into a full Response (a
    // ReadableStream per request). Error responses set it themselves (src/http/on-error.ts).
    c.header("X-Request-Id", requestId);
    const started = Date.now();
    await next();
    countRequest(c, c.res.status);
    services.logger.info({
      request_id: requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Date.now() - started,
      client_id: c.get("clientId"),
      calls: c.get("calls"),
    }, "request");
  };
}
