/**
 * @module
 * Builds the handler registry: built-in lookups, payments, payouts, then declared upstreams.
 */
import { lookupHandlers } from "./lookups.js";
import { paymentHandlers } from "./payments.js";
import { payoutHandlers } from "./payouts.js";
import { HandlerRegistry } from "./registry.js";
import { type UpstreamConfig, upstreamHandler } from "./upstream.js";

export function buildRegistry(upstreams: readonly UpstreamConfig[] = []): HandlerRegistry {
  const registry = new HandlerRegistry();
  for (const h of [...lookupHandlers, ...paymentHandlers, ...payoutHandlers]) registry.register(h);
  for (const up of upstreams) {
    if (registry.get(up.call)) throw new Error(`Upstream ${up.call} would replace a built-in call`);
    registry.register(upstreamHandler(up));
  }
  return registry;
}

export { HandlerRegistry } from "./registry.js";
export { UpstreamsFileSchema, type UpstreamConfig } from "./upstream.js";
