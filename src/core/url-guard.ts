/**
 * @module
 * The SSRF guard for webhook URLs: a webhook must go to the public internet, never to the
 * gateway's own network. A URL is refused when it is not https (http only when private URLs are
 * allowed, for local development and tests), carries credentials, or its host is — or resolves
 * to — a non-public address: IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24,
 * the documentation nets, 192.88.99/24, 192.168/16, 198.18/15, 224/4 and 240/4; IPv6 anything
 * outside 2000::/3 (which leaves out ::, ::1, fc00::/7, fe80::/10, ff00::/8), 2001::/23, 2001:db8::/32
 * and 2002::/16 (6to4); IPv4-mapped, -compatible and NAT64 (64:ff9b::/96) addresses are judged by
 * the IPv4 address they carry. Without a resolver (Workers) a host name is refused only when it is
 * obviously local (`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa`, a single label).
 */
import type { HostResolver } from "../ports/resolver.js";

const V4_BLOCKED: [number, number][] = [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24],
  ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
].map(([net, bits]) => [parseIPv4(net as string)!, bits as number]);

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or null. */
export function parseIPv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** An IPv6 address (optionally with a dotted IPv4 tail, no zone) as eight 16-bit groups, or null. */
export function parseIPv6(text: string): number[] | null {
  let s = text.toLowerCase();
  if (s.includes("%")) s = s.slice(0, s.indexOf("%"));
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups.
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const group = (h: string) => (h === "" ? [] : h.split(":"));
  const head = group(halves[0]);
  const rest = halves.length === 2 ? group(halves[1]) : [];
  const parse = (g: string) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const a = head.map(parse);
  const b = rest.map(parse);
  if ([...a, ...b].some(Number.isNaN)) return null;
  const total = a.length + b.length;
  if (halves.length === 1 && total !== 8) return null;
  if (halves.length === 2 && total > 7) return null;
  return [...a, ...new Array(8 - total).fill(0), ...b];
}

function v4IsPublic(ip: number): boolean {
  return !V4_BLOCKED.some(([net, bits]) => (bits === 0 ? true : ip >>> (32 - bits) === net >>> (32 - bits)));
}

function v6IsPublic(g: number[]): boolean {
  const embedded = (hi: number, lo: number) => v4IsPublic(((hi << 16) >>> 0) + lo);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated) carry an IPv4 address.
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || g[5] === 0)) {
    if (g[5] === 0 && g[6] === 0) return false; // :: and ::1 and the like
    return embedded(g[6], g[7]);
  }
  // NAT64 well-known prefix 64:ff9b::/96.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embedded(g[6], g[7]);
  if ((g[0] & 0xe000) !== 0x2000) return false; // only 2000::/3 is global unicast
  if (g[0] === 0x2001 && g[1] < 0x200) return false; // 2001::/23: Teredo, benchmarking, ORCHID...
  if (g[0] === 0x2001 && g[1] === 0x0db8) return false; // documentation
  if (g[0] === 0x2002) return false; // 6to4 carries an arbitrary IPv4 address
  return true;
}

/** Whether an address literal (IPv4 dotted quad or IPv6, brackets allowed) is public; null if it is not an address. */
export function isPublicAddress(text: string): boolean | null {
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIPv4(t);
  if (v4 !== null) return v4IsPublic(v4);
  if (!t.includes(":")) return null;
  const v6 = parseIPv6(t);
  return v6 === null ? null : v6IsPublic(v6);
}

const LOCAL_NAME = /(^|\.)(localhost|local|internal|home\.arpa|localdomain)\.?$/i;

export interface UrlCheckOptions {
  allowPrivate: boolean;
  /** null where names cannot be resolved (Workers). */
  resolver: HostResolver | null;
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** The syntactic checks: scheme, credentials, length. */
export function checkUrlShape(raw: string, allowPrivate: boolean): UrlCheck {
  if (raw.length > 2048) return { ok: false, reason: "the URL is longer than 2048 characters" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "it is not an absolute URL" };
  }
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) {
    return { ok: false, reason: allowPrivate ? "it must be an http or https URL" : "it must be an https URL" };
  }
  if (url.username || url.password) return { ok: false, reason: "it must not carry credentials" };
  if (url.hash) return { ok: false, reason: "it must not have a fragment" };
  return { ok: true, url };
}

/** The whole check: shape, then (unless private URLs are allowed) where the host points. */
export async function checkWebhookUrl(raw: string, opts: UrlCheckOptions): Promise<UrlCheck> {
  const shape = checkUrlShape(raw, opts.allowPrivate);
  if (!shape.ok || opts.allowPrivate) return shape;
  const host = shape.url.hostname;
  const literal = isPublicAddress(host);
  if (literal === false) return { ok: false, reason: `its host ${host} is not a public address` };
  if (literal === true) return shape;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (LOCAL_NAME.test(name) || !name.includes(".")) return { ok: false, reason: `its host ${host} is a local name` };
  if (!opts.resolver) return shape;
  let addresses: string[];
  try {
    addresses = await opts.resolver.resolve(name);
  } catch {
    return { ok: false, reason: `its host ${host} does not resolve` };
  }
  if (addresses.length === 0) return { ok: false, reason: `its host ${host} does not resolve` };
  const bad = addresses.find((a) => isPublicAddress(a) !== true);
  if (bad !== undefined) return { ok: false, reason: `its host ${host} resolves to ${bad}, which is not a public address` };
  return shape;
}
