/**
 * @module
 * The client's IP address, for the per-IP limit. The peer is the address the connection came
 * from (the socket on Node, CF-Connecting-IP on Workers). X-Forwarded-For is read only when
 * TRUST_PROXY says how many proxies in front of the gateway append to it: with N trusted hops the
 * client is the address N entries to the left of the peer, so entries a caller wrote themselves
 * (further left) never choose the key.
 */
import type { Context } from "hono";
import type { AppEnv } from "./env.js";

/** What the runtime knows about where a request came from. */
export interface PeerInfo {
  /** The connecting address (socket or CF-Connecting-IP); undefined when the runtime has none. */
  peer: string | undefined;
  /** The X-Forwarded-For header as received. */
  forwardedFor: string | undefined;
}

export type PeerOf = (c: Context<AppEnv>) => PeerInfo;

/** The default when the runtime gives no peer (app.request in tests): the header only. */
export const headersOnlyPeer: PeerOf = (c) => ({ peer: undefined, forwardedFor: c.req.header("x-forwarded-for") });

/** The address the per-IP limit is keyed by. */
export function clientIp(info: PeerInfo, trustedHops: number): string {
  const peer = info.peer?.trim() || "unknown";
  if (trustedHops <= 0 || !info.forwardedFor) return peer;
  const hops = info.forwardedFor
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s.length <= 64);
  if (hops.length === 0) return peer;
  // hops[last] was seen by the nearest proxy (the peer); each trusted proxy adds one on the right.
  const i = hops.length - trustedHops;
  return i >= 0 ? hops[i] : hops[0];
}
