/**
 * @module
 * The per-IP limit in front of client and token authentication: every request to a route that
 * authenticates costs one point from its client address's budget (IP_RATE_LIMIT_POINTS per
 * IP_RATE_LIMIT_WINDOW_S), so guessing client secrets or tokens is throttled before any secret is
 * checked. A rejection is 429 throttle_exceeded with the RateLimit fields of policy "ip".
 */
import type { MiddlewareHandler } from "hono";
import { GatewayError } from "../core/errors.js";
import type { RateDecision } from "../ports/rate-limiter.js";
import { setRateLimitHeaders } from "./body.js";
import { clientIp, type PeerOf } from "./client-ip.js";
import type { AppEnv } from "./env.js";

/** The routes that authenticate a client, a token or the operator. */
export const IP_LIMITED_PATHS = ["/batch/create", "/v2/*", "/v1/*", "/admin/v1/*", "/metrics"] as const;

export function ipLimit(peerOf: PeerOf): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { config, ipLimiter, metrics } = c.get("services");
    const ip = clientIp(peerOf(c), config.TRUST_PROXY);
    let decision: RateDecision;
    try {
      decision = await ipLimiter.consume(ip, 1);
    } catch {
      throw new GatewayError("service_unavailable", "The rate limiter is unavailable; nothing ran.");
    }
    if (!decision.allowed) {
      metrics.inc("batchgate_rate_limit_rejections_total", { policy: "ip" });
      setRateLimitHeaders(c, decision);
      throw new GatewayError("throttle_exceeded", `Too many requests from this address; retry in ${decision.resetSeconds} s.`);
    }
    return next();
  };
}
