/**
 * @module
 * The Hono environment every route shares: services and the request's id and logger.
 */
import type { Logger } from "../ports/runtime.js";
import type { GatewayServices } from "../services.js";

export type AppEnv = {
  Variables: {
    services: GatewayServices;
    requestId: string;
    logger: Logger;
    /** Set once the API client is authenticated, for the access log. */
    clientId?: number;
    calls?: number;
    /** Set by adminAuth: who is acting, for the audit log (the admin key's fingerprint). */
    adminActor?: string;
  };
};
