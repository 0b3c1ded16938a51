/**
 * The webhook SSRF guard, the secret box and the webhook configuration. A stub HostResolver stands
 * in for DNS (no resolver answers for arbitrary names here); the node:dns adapter is used by the
 * server tests.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { createSecretBox } from "../../src/core/secret-box.js";
import { checkWebhookUrl, isPublicAddress } from "../../src/core/url-guard.js";
import { parseRetryAfter } from "../../src/core/webhooks.js";
import type { HostResolver } from "../../src/ports/resolver.js";

const resolver = (table: Record<string, string[]>): HostResolver => ({
  resolve: async (host) => {
    if (!(host in table)) throw new Error("ENOTFOUND");
    return table[host];
  },
});

describe("isPublicAddress", () => {
  it("refuses every private, loopback, link-local, shared, reserved and multicast range, IPv4 and IPv6", () => {
    for (const a of [
      "0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.255.255", "169.254.169.254", "172.16.0.1",
      "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1", "198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1", "240.0.0.1",
      "255.255.255.255", "::", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a00:1", "fc00::1",
      "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1", "2001:db8::1", "2001::1", "2002:7f00:1::1", "100::1", "[::1]",
    ]) {
      expect(isPublicAddress(a), a).toBe(false);
    }
  });

  it("accepts public addresses, also IPv4-mapped and NAT64 ones, and is null for names", () => {
    for (const a of ["8.8.8.8", "93.184.216.34", "100.128.0.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "[2a00:1450::1]"]) {
      expect(isPublicAddress(a), a).toBe(true);
    }
    expect(isPublicAddress("example.com")).toBeNull();
    expect(isPublicAddress("1.2.3")).toBeNull();
    expect(isPublicAddress("1:2:3")).toBeNull();
  });
});

describe("checkWebhookUrl", () => {
  const strict = { allowPrivate: false, resolver: resolver({ "hooks.example.com": ["93.184.216.34", "2606:4700::1"], "sneaky.example.com": ["93.184.216.34", "10.0.0.5"], "v6.example.com": ["::1"] }) };

  it("accepts an https URL whose every address is public", async () => {
    expect(await checkWebhookUrl("https://hooks.example.com/in?x=1", strict)).toMatchObject({ ok: true });
  });

  it("refuses names resolving to any non-public address, unresolvable names and local names", async () => {
    for (const [url, reason] of [
      ["https://sneaky.example.com/", /10\.0\.0\.5/],
      ["https://v6.example.com/", /::1/],
      ["https://nowhere.example.com/", /does not resolve/],
      ["https://localhost/", /local name/],
      ["https://db.internal/", /local name/],
      ["https://printer.local/", /local name/],
      ["https://intranet/", /local name/],
      ["http://hooks.example.com/", /https/],
      ["https://u:p@hooks.example.com/", /credentials/],
      ["https://hooks.example.com/#frag", /fragment/],
      ["not a url", /absolute URL/],
      [`https://hooks.example.com/${"a".repeat(2100)}`, /2048/],
    ] as const) {
      const r = await checkWebhookUrl(url, strict);
      expect(r.ok, url).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    }
  });

  it("without a resolver (Workers) checks literal addresses and local names only", async () => {
    const workers = { allowPrivate: false, resolver: null };
    expect((await checkWebhookUrl("https://hooks.example.com/", workers)).ok).toBe(true);
    expect((await checkWebhookUrl("https://[::ffff:a9fe:a9fe]/", workers)).ok).toBe(false);
    expect((await checkWebhookUrl("https://0x7f.1/", workers)).ok).toBe(false);
    expect((await checkWebhookUrl("https://api.localhost/", workers)).ok).toBe(false);
  });

  it("with private URLs allowed, takes http and loopback", async () => {
    expect((await checkWebhookUrl("http://127.0.0.1:9/x", { allowPrivate: true, resolver: null })).ok).toBe(true);
    expect((await checkWebhookUrl("ftp://127.0.0.1/x", { allowPrivate: true, resolver: null })).ok).toBe(false);
  });
});

describe("secret box", () => {
  it("round-trips, never shows the plaintext, and refuses another key or another record", async () => {
    const box = createSecretBox("k".repeat(40));
    const sealed = await box.seal("whsec_c2VjcmV0", "whe_1");
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain("c2VjcmV0");
    expect(await box.seal("whsec_c2VjcmV0", "whe_1")).not.toBe(sealed);
    expect(await box.open(sealed, "whe_1")).toBe("whsec_c2VjcmV0");
    await expect(box.open(sealed, "whe_2")).rejects.toThrow();
    await expect(createSecretBox("j".repeat(40)).open(sealed, "whe_1")).rejects.toThrow();
    await expect(box.open("garbage", "whe_1")).rejects.toThrow();
    expect(() => createSecretBox("short")).toThrow(/32/);
  });
});

describe("webhook configuration and Retry-After", () => {
  it("parses the retry schedule with units and refuses bad values naming the variable", () => {
    expect(parseConfig({}).WEBHOOK_RETRY_SCHEDULE).toEqual([5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(parseConfig({ WEBHOOK_RETRY_SCHEDULE: "50ms, 1s,2m ,1h" }).WEBHOOK_RETRY_SCHEDULE).toEqual([50, 1000, 120_000, 3_600_000]);
    for (const bad of ["5", "5x", "1s,,2s", "8d", "200h"]) expect(() => parseConfig({ WEBHOOK_RETRY_SCHEDULE: bad }), bad).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
    expect(() => parseConfig({ WEBHOOK_SECRET_KEY: "short" })).toThrow(/WEBHOOK_SECRET_KEY/);
    expect(() => parseConfig({ WEBHOOK_ALLOW_PRIVATE_URLS: "yes" })).toThrow(/WEBHOOK_ALLOW_PRIVATE_URLS/);
    expect(parseConfig({ WEBHOOK_ALLOW_PRIVATE_URLS: "true" }).WEBHOOK_ALLOW_PRIVATE_URLS).toBe(true);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3", 0)).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon", 0)).toBeNull();
    expect(parseRetryAfter(null, 0)).toBeNull();
  });
});
