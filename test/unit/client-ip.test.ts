import { describe, expect, it } from "vitest";
import { clientIp } from "../../src/http/client-ip.js";

describe("clientIp: the per-IP limit's key", () => {
  it("is the peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientIp({ peer: "192.0.2.1", forwardedFor: "203.0.113.9" }, 0)).toBe("192.0.2.1");
    expect(clientIp({ peer: undefined, forwardedFor: "203.0.113.9" }, 0)).toBe("unknown");
  });

  it("counts trusted hops from the right, so entries a caller wrote further left never choose it", () => {
    // One proxy: it appended the address it saw, the rightmost entry.
    expect(clientIp({ peer: "10.0.0.2", forwardedFor: "6.6.6.6, 203.0.113.9" }, 1)).toBe("203.0.113.9");
    // Two proxies: the outer one appended the client, the inner one the outer proxy.
    expect(clientIp({ peer: "10.0.0.2", forwardedFor: "6.6.6.6, 203.0.113.9, 10.0.0.1" }, 2)).toBe("203.0.113.9");
    // Fewer entries than trusted hops: the furthest one known.
    expect(clientIp({ peer: "10.0.0.2", forwardedFor: "203.0.113.9" }, 3)).toBe("203.0.113.9");
    // No usable header: the peer.
    expect(clientIp({ peer: "10.0.0.2", forwardedFor: " , " }, 1)).toBe("10.0.0.2");
    expect(clientIp({ peer: "10.0.0.2", forwardedFor: undefined }, 1)).toBe("10.0.0.2");
  });
});
