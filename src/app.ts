/**
 * @module
 * createApp(services): the one Hono app both runtimes serve. Nothing here touches the file
 * system or the network at import time.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { GatewayError } from "./core/errors.js";
import { type AppType, registerRoutes } from "../routes/index.js";
import { validationHook } from "../routes/schemas.js";
import { headersOnlyPeer, type PeerOf } from "./http/client-ip.js";
import type { DocsAssets } from "./http/docs-assets.js";
import { IP_LIMITED_PATHS, ipLimit } from "./http/ip-limit.js";
import type { AppEnv } from "./http/env.js";
import { bodyLimitFor } from "./http/body.js";
import { renderThrown, respondWithError } from "./http/on-error.js";
import { requestContext } from "./http/request-context.js";
import type { GatewayServices } from "./services.js";

export interface AppOptions {
  /** The /docs page's files; without them /docs answers 404. */
  docsAssets?: DocsAssets;
  /** Where a request came from, for the per-IP limit (Node: the socket; Workers: CF-Connecting-IP). */
  peerOf?: PeerOf;
}

export function createApp(services: GatewayServices, opts: AppOptions = {}): AppType {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(requestContext(services));

  // The body limit is per path: /v1/batches takes large item lists (ASYNC_BATCH_MAX_BODY_BYTES),
  // everything else MAX_BODY_BYTES.
  const limitOf = (path: string) => bodyLimitFor(path, services.config);
  // The unread rest of the body would be taken for the next request on a kept-alive connection,
  // so a 413 also closes the connection.
  const tooLarge = (maxBody: number) => ({ code: "body_too_large", message: `The request body is larger than ${maxBody} bytes.` }) as const;
  const close = { Connection: "close" };
  // hono/body-limit counts a streamed body; a declared Content-Length is checked directly, which
  // keeps the runtime's fast body read (HTTP framing guarantees the body is exactly that long).
  const countedLimits = new Map<number, ReturnType<typeof bodyLimit>>();
  const countedLimit = (maxBody: number) => {
    let m = countedLimits.get(maxBody);
    if (!m) {
      m = bodyLimit({ maxSize: maxBody, onError: (c) => respondWithError(c as never, tooLarge(maxBody), close) });
      countedLimits.set(maxBody, m);
    }
    return m;
  };
  app.use("*", async (c, next) => {
    const maxBody = limitOf(c.req.path);
    const declared = c.req.header("content-length");
    if (declared !== undefined && /^\d{1,15}$/.test(declared)) {
      if (Number(declared) > maxBody) return respondWithError(c, tooLarge(maxBody), close);
      return next();
    }
    return countedLimit(maxBody)(c, next);
  });

  const perIp = ipLimit(opts.peerOf ?? headersOnlyPeer);
  for (const path of IP_LIMITED_PATHS) app.use(path, perIp);

  const routes = registerRoutes(app, { handlers: services.handlers.all(), docsAssets: opts.docsAssets });

  app.notFound((c) => renderThrown(c, new GatewayError("route_not_found", `No endpoint ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => renderThrown(c, err));
  return routes;
}
