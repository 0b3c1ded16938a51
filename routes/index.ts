/**
 * @module
 * Every route of the gateway, registered in one place: the whole HTTP surface reads top to bottom.
 */
import type { Hono } from "hono";
import { registerBatch } from "./batch.js";
import type { AppEnv } from "./env.js";
import { registerHealth } from "./health.js";
import { registerSingleCall } from "./single-call.js";

export function registerRoutes(app: Hono<AppEnv>) {
  registerHealth(app);
  registerBatch(app); // before /v2/* so /v2/batch/create is the batch, not a call
  registerSingleCall(app);
}
