import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";

describe("config", () => {
  it("applies defaults", () => {
    const c = parseConfig({});
    expect(c.PORT).toBe(8787);
    expect(c.DATA_DIR).toBe("./data");
    expect(c.MAX_CALLS).toBe(50);
    expect(c.DEMO_USERS).toBe(50);
    expect(c.CALL_TIMEOUT_MS).toBe(10_000);
    expect(c.LOG_LEVEL).toBe("info");
    expect(c.IDEMPOTENCY_LEASE_MS).toBe(10_000);
    expect(parseConfig({ IDEMPOTENCY_LEASE_MS: "3000" }).IDEMPOTENCY_LEASE_MS).toBe(3_000);
  });

  it.each([
    ["PORT", "eighty"],
    ["PORT", "70000"],
    ["MAX_CALLS", "0"],
    ["RATE_LIMIT_COST", "bytes"],
    ["LOG_LEVEL", "loud"],
    ["CALL_TIMEOUT_MS", "-5"],
    ["IDEMPOTENCY_LEASE_MS", "10"],
    ["IDEMPOTENCY_LEASE_MS", "10s"],
  ])("a bad %s stops with a message naming it", (name, value) => {
    let err: unknown;
    try {
      parseConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(name);
    expect((err as Error).message).toContain(name);
  });
});
