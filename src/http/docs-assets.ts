/**
 * @module
 * The files the /docs page loads (Swagger UI, from the installed swagger-ui-dist package), served
 * by the gateway itself so the page works with no internet access. Each runtime's composition
 * root says where they come from: read from node_modules on Node, bundled as text on Workers.
 */
export const DOCS_ASSETS = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
} as const;

export type DocsAssetName = keyof typeof DOCS_ASSETS;

/** Gives an asset's text; the app asks once per asset and keeps the answer. */
export type DocsAssets = (name: DocsAssetName) => Promise<string>;
