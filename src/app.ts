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
import type { Services } from "./services.js";

const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

export function createApp(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : newId("req");
    const logger = services.logger.child({ request_id: requestId });
    c.set("services", services);
    c.set("requestId", requestId);
    c.set("logger", logger);
    const started = Date.now();
    await next();
    c.header("X-Request-Id", requestId);
    logger.info({
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Date.now() - started,
      client_id: c.get("clientId"),
      calls: c.get("calls"),
    }, "request");
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: services.config.MAX_BODY_BYTES,
      onError: (c) =>
        renderClassicError(c as never, new GatewayError("body_too_large", `The request body is larger than ${services.config.MAX_BODY_BYTES} bytes.`)),
    }),
  );

  registerRoutes(app);

  app.notFound((c) => renderClassicError(c, new GatewayError("route_not_found", `No endpoint ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => renderClassicError(c, err));
  return app;
}
