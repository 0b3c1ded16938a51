/**
 * @module
 * The operator key (ADMIN_API_KEY), sent as `Authorization: Bearer <key>`. The configured key is
 * hashed once per gateway; a presented key is hashed and compared with the stored hash in constant
 * time, so neither the key nor its length leaks through timing.
 */
import { parseBearer } from "../core/auth.js";
import { timingSafeEqual } from "../core/secrets.js";
import type { GatewayServices } from "../services.js";

const configuredHashes = new WeakMap<GatewayServices, Promise<string>>();

/** null: no ADMIN_API_KEY is configured (admin surfaces are off); else whether the header carries it. */
export async function verifyAdminKey(services: GatewayServices, authorizationHeader: string | undefined): Promise<boolean | null> {
  const key = services.config.ADMIN_API_KEY;
  if (key === undefined) return null;
  let expected = configuredHashes.get(services);
  if (!expected) {
    expected = Promise.resolve(services.auth.hash(key));
    configuredHashes.set(services, expected);
  }
  const presented = parseBearer(authorizationHeader);
  // A missing key is hashed too, so the answer takes the same time either way.
  const hash = await services.auth.hash(presented ?? "");
  return timingSafeEqual(hash, await expected) && presented !== null;
}
