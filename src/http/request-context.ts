/**
 * @module
 * Every request's id (a well-formed X-Request-Id is kept, anything else replaced), its logger,
 * the services on the context, and the access log line.
 */
import type { MiddlewareHandler } from "hono";
import { newId } from "../core/ids.js";
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

export function requestContext(services: GatewayServices): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = requestIdOf(c.req.header("x-request-id"));
    c.set("services", services);
    c.set("requestId", requestId);
    c.set("logger", lazyChild(services.logger, { request_id: requestId }));
    const started = Date.now();
    await next();
    c.header("X-Request-Id", requestId);
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
