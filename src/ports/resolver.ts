/**
 * @module
 * Name resolution for the webhook SSRF guard: which addresses a host name resolves to. Node
 * resolves with node:dns (src/adapters/node/dns-resolver.ts); Workers cannot resolve names, so
 * there the guard checks literal addresses and obviously local names only.
 */

export interface HostResolver {
  /** Every address (IPv4 and IPv6, as text) the name resolves to; throws when it does not resolve. */
  resolve(hostname: string): Promise<string[]>;
}
