/**
 * @module
 * Every route of the gateway, registered in one place: the whole HTTP surface reads top to bottom.
 * The registrations chain so that their types accumulate into AppType, which the typed client
 * (src/client) is built over.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { HandlerDef } from "../src/core/call-contract.js";
import type { DocsAssets } from "../src/http/docs-assets.js";
import type { AppEnv } from "../src/http/env.js";
import { registerBatchCreate } from "./classic/batch-create.js";
import { registerSingleCalls } from "./classic/single-call.js";
import { registerDocs } from "./ops/docs.js";
import { registerHealth } from "./ops/health.js";
import { registerMetrics } from "./ops/metrics.js";
import { registerOpenApi } from "./ops/openapi.js";
import { registerV1 } from "./v1/index.js";
import { registerAdmin } from "./admin/index.js";

export interface RouteDeps {
  /** Every registered call, each described as its own /v2 operation. */
  handlers: readonly HandlerDef[];
  docsAssets?: DocsAssets;
}

export function registerRoutes(app: OpenAPIHono<AppEnv>, deps: RouteDeps) {
  const withOps = registerDocs(registerOpenApi(registerHealth(app)), deps.docsAssets);
  // The batch before the calls, so /v2/batch/create is the batch, not a call.
  const withClassic = registerSingleCalls(registerBatchCreate(withOps), deps.handlers);
  return registerAdmin(registerMetrics(registerV1(withClassic)));
}

export type AppType = ReturnType<typeof registerRoutes>;
