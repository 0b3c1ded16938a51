/**
 * @module
 * Where a request came from on Node: the socket's remote address (@hono/node-server's
 * getConnInfo) and the X-Forwarded-For header, for the per-IP limit (src/http/client-ip.ts).
 */
import { getConnInfo } from "@hono/node-server/conninfo";
import type { PeerOf } from "../../http/client-ip.js";

export const nodePeer: PeerOf = (c) => {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    // Not served by @hono/node-server (app.request): no socket.
    peer = undefined;
  }
  return { peer, forwardedFor: c.req.header("x-forwarded-for") };
};
