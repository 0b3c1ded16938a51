/**
 * @module
 * The /docs page's files on Workers: bundled into the worker as text (wrangler.toml's `[[rules]]`
 * of type "Text" for these two files), since a worker has no file system. Imported only from the
 * Durable Object, which runs in workerd: Node would load the .js file as a script.
 */
import script from "swagger-ui-dist/swagger-ui-bundle.js";
import style from "swagger-ui-dist/swagger-ui.css";
import type { DocsAssets } from "../../http/docs-assets.js";

export const workerDocsAssets: DocsAssets = async (name) => (name === "swagger-ui.css" ? style : script);
