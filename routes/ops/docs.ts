/**
 * @module
 * GET /docs: an interactive reference (Swagger UI) over /openapi.json. Its script and styles are
 * served from /docs/assets/ by the gateway, never from a CDN, so the page works offline; the
 * runtime's composition root provides them (DocsAssets). Without them /docs answers 404.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { GatewayError } from "../../src/core/errors.js";
import { DOCS_ASSETS, type DocsAssetName, type DocsAssets } from "../../src/http/docs-assets.js";
import type { AppEnv } from "../../src/http/env.js";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Batchgate API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#reference", deepLinking: true, validatorUrl: null, tryItOutEnabled: false });
</script>
</body>
</html>
`;

const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["Operations"],
  summary: "Interactive API reference over /openapi.json",
  responses: { 200: { description: "HTML page", content: { "text/html": { schema: z.string() } } } },
});

const assetRoute = createRoute({
  method: "get",
  path: "/docs/assets/{name}",
  tags: ["Operations"],
  summary: "The reference page's script and styles",
  request: { params: z.object({ name: z.string() }) },
  responses: { 200: { description: "The file", content: { "text/javascript": { schema: z.string() }, "text/css": { schema: z.string() } } } },
});

export function registerDocs<S extends Schema>(app: OpenAPIHono<AppEnv, S>, assets: DocsAssets | undefined) {
  const cache = new Map<DocsAssetName, Promise<string>>();
  const notFound = (path: string) => new GatewayError("route_not_found", `No endpoint GET ${path}.`);
  return app
    .openapi(docsRoute, (c) => {
      if (!assets) throw notFound(c.req.path);
      return c.html(PAGE, 200);
    })
    .openapi(assetRoute, async (c) => {
      const name = c.req.valid("param").name;
      if (!assets || !Object.hasOwn(DOCS_ASSETS, name)) throw notFound(c.req.path);
      const asset = name as DocsAssetName;
      let text = cache.get(asset);
      if (!text) {
        text = assets(asset);
        cache.set(asset, text);
        text.catch(() => cache.delete(asset));
      }
      c.header("content-type", DOCS_ASSETS[asset]);
      c.header("cache-control", "public, max-age=86400");
      return c.body(await text, 200);
    });
}
