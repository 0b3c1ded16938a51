/**
 * @module
 * The /docs page's files on Node: read from the installed swagger-ui-dist package on first use.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { DocsAssets } from "../../http/docs-assets.js";

const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

export const nodeDocsAssets: DocsAssets = (name) => readFile(join(dir, name), "utf8");
