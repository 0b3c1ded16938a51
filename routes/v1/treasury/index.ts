/**
 * @module
 * /v1/treasury: what an API client reads of its own treasury (HTTP Basic client credentials).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../../src/http/env.js";
import { registerTreasuryWallets } from "./wallets.js";

export function registerTreasury<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return registerTreasuryWallets(app);
}
