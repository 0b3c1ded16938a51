/**
 * @module
 * The operators' key: `Authorization: Bearer <ADMIN_API_KEY>` on /admin/v1 (and whatever else an
 * operator guards with it, such as GET /metrics). The key is hashed once at start with the
 * runtime's hasher (services.adminKeyHash) and the presented key's hash is compared with it in
 * constant time, so neither the key nor its length leaks through timing. Without ADMIN_API_KEY the guarded
 * surface does not exist: 404 route_not_found, as for any unknown path.
 */
import type { MiddlewareHandler } from "hono";
import { parseBearer } from "../core/auth.js";
import { GatewayError } from "../core/errors.js";
import { timingSafeEqual } from "../core/secrets.js";
import type { GatewayServices } from "../services.js";
import type { AppEnv } from "./env.js";

/** True when the header carries the admin key, false when not, null when no key is configured (admin off). */
export async function verifyAdminKey(
  services: { adminKeyHash: GatewayServices["adminKeyHash"]; auth: Pick<GatewayServices["auth"], "hash"> },
  authorizationHeader: string | undefined | null,
): Promise<boolean | null> {
  if (services.adminKeyHash === null) return null;
  const presented = parseBearer(authorizationHeader ?? undefined);
  // A missing key costs the same hash and comparison as a wrong one.
  const [hash, expected] = await Promise.all([services.auth.hash(presented ?? ""), services.adminKeyHash]);
  return timingSafeEqual(hash, expected) && presented !== null;
}

/** Who acted, for the audit log: the key's fingerprint (not the key, not its full hash). */
export async function adminActorOf(services: Pick<GatewayServices, "adminKeyHash">): Promise<string> {
  return services.adminKeyHash === null ? "admin" : `key:${(await services.adminKeyHash).slice(0, 12)}`;
}

/** Guards a route: 404 when the admin API is off, 401 invalid_admin_key without the right key. */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const services = c.get("services");
    const ok = await verifyAdminKey(services, c.req.header("authorization"));
    if (ok === null) throw new GatewayError("route_not_found", `No endpoint ${c.req.method} ${c.req.path}.`);
    if (!ok) throw new GatewayError("invalid_admin_key", undefined, { "WWW-Authenticate": 'Bearer realm="batchgate-admin"' });
    c.set("adminActor", await adminActorOf(services));
    await next();
  };
}
