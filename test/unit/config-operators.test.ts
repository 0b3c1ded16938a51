import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";

function errorOf(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration: operator key, metrics port, per-IP limit", () => {
  it("defaults: no operator key, no metrics port, 6000 requests a minute per IP, no trusted proxy", () => {
    const c = parseConfig({});
    expect(c.ADMIN_API_KEY).toBeUndefined();
    expect(c.METRICS_PORT).toBeUndefined();
    expect(c.IP_RATE_LIMIT_POINTS).toBe(6000);
    expect(c.IP_RATE_LIMIT_WINDOW_S).toBe(60);
    expect(c.TRUST_PROXY).toBe(0);
    expect(parseConfig({ ADMIN_API_KEY: "", METRICS_PORT: "" }).ADMIN_API_KEY).toBeUndefined();
  });

  it("accepts good values and names the variable of a bad one, without echoing the key", () => {
    const c = parseConfig({ ADMIN_API_KEY: "k".repeat(24), METRICS_PORT: "9464", TRUST_PROXY: "2", IP_RATE_LIMIT_POINTS: "10" });
    expect([c.ADMIN_API_KEY, c.METRICS_PORT, c.TRUST_PROXY, c.IP_RATE_LIMIT_POINTS]).toEqual(["k".repeat(24), 9464, 2, 10]);
    const short = errorOf({ ADMIN_API_KEY: "short-secret-key" });
    expect(short.variable).toBe("ADMIN_API_KEY");
    expect(short.message).toMatch(/at least 24 visible ASCII characters/);
    expect(short.message).not.toContain("short-secret-key");
    expect(errorOf({ METRICS_PORT: "70000" }).variable).toBe("METRICS_PORT");
    expect(errorOf({ METRICS_PORT: "http" }).variable).toBe("METRICS_PORT");
    expect(errorOf({ TRUST_PROXY: "true" }).variable).toBe("TRUST_PROXY");
    expect(errorOf({ TRUST_PROXY: "11" }).variable).toBe("TRUST_PROXY");
    expect(errorOf({ IP_RATE_LIMIT_POINTS: "0" }).variable).toBe("IP_RATE_LIMIT_POINTS");
  });
});
