/**
 * @module
 * createApp(services): the one Hono app both runtimes serve. Nothing here touches the file
 * system or the network at import time.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { GatewayError } from "./core/errors.js";
import { newId } from "./core/ids.js";
import type { AppEnv } from "../routes/env.js";
import { renderClassicError } from "../routes/http.js";
import { registerRoutes } from "../routes/index.js";
import type { Logger, LogFields } from "./ports/runtime.js";
import type { GatewayServices } from "./services.js";

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

const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

export function createApp(services: GatewayServices): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : newId("req");
    const logger = lazyChild(services.logger, { request_id: requestId });
    c.set("services", services);
    c.set("requestId", requestId);
    c.set("logger", logger);
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
  });

  const maxBody = services.config.MAX_BODY_BYTES;
  // The unread rest of the body would be taken for the next request on a kept-alive connection,
  // so a 413 also closes the connection.
  const tooLarge = () => new GatewayError("body_too_large", `The request body is larger than ${maxBody} bytes.`, { Connection: "close" });
  // hono/body-limit counts a streamed body; a declared Content-Length is checked directly, which
  // keeps the runtime's fast body read (HTTP framing guarantees the body is exactly that long).
  const countedLimit = bodyLimit({ maxSize: maxBody, onError: (c) => renderClassicError(c as never, tooLarge()) });
  app.use("*", async (c, next) => {
    const declared = c.req.header("content-length");
    if (declared !== undefined && /^\d{1,15}$/.test(declared)) {
      if (Number(declared) > maxBody) return renderClassicError(c, tooLarge());
      return next();
    }
    return countedLimit(c, next);
  });

  registerRoutes(app);

  app.notFound((c) => renderClassicError(c, new GatewayError("route_not_found", `No endpoint ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => renderClassicError(c, err));
  return app;
}
