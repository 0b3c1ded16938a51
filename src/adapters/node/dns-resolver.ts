/**
 * @module
 * The HostResolver on Node: every address the system resolver gives for a name (the same lookup
 * fetch itself uses), IPv4 and IPv6.
 */
import { lookup } from "node:dns/promises";
import type { HostResolver } from "../../ports/resolver.js";

export const nodeResolver: HostResolver = {
  async resolve(hostname) {
    const found = await lookup(hostname, { all: true, verbatim: true });
    return found.map((a) => a.address);
  },
};
