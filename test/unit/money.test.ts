import { describe, expect, it } from "vitest";
import { formatAmount, isSupportedCurrency, parseAmount } from "../../src/core/money.js";

describe("money", () => {
  it("parses decimal strings into integer minor units", () => {
    expect(parseAmount("1.00", "USD")).toEqual({ ok: true, minor: 100 });
    expect(parseAmount("12.3", "USD")).toEqual({ ok: true, minor: 1230 });
    expect(parseAmount("7", "USD")).toEqual({ ok: true, minor: 700 });
    expect(parseAmount("0.01", "EUR")).toEqual({ ok: true, minor: 1 });
    expect(parseAmount("500", "JPY")).toEqual({ ok: true, minor: 500 });
    expect(parseAmount("10000000000.00", "USD")).toEqual({ ok: true, minor: 1_000_000_000_000 });
  });

  it.each([
    [1.5, "number"],
    ["-1.00", "sign"],
    ["1.001", "over-precise"],
    ["0.00", "zero"],
    ["1e3", "exponent"],
    [" 1.00", "whitespace"],
    ["1,00", "comma"],
    ["10000000000.01", "too large"],
    ["99999999999999999", "huge"],
    ["1.5", "JPY decimals"],
  ])("rejects %j (%s)", (value, why) => {
    const currency = why === "JPY decimals" ? "JPY" : "USD";
    expect(parseAmount(value, currency).ok).toBe(false);
  });

  it("formats minor units with the currency's exponent", () => {
    expect(formatAmount(100_000, "USD")).toBe("1000.00");
    expect(formatAmount(5, "USD")).toBe("0.05");
    expect(formatAmount(-1234, "EUR")).toBe("-12.34");
    expect(formatAmount(500, "JPY")).toBe("500");
  });

  it("rejects unsupported currencies, including names of Object.prototype members", () => {
    for (const c of ["XXX", "usd", "", "__proto__", "toString", "constructor"]) {
      expect(isSupportedCurrency(c)).toBe(false);
      expect(parseAmount("1.00", c)).toEqual({ ok: false, reason: `currency ${c} is not supported` });
    }
    expect(isSupportedCurrency("JPY")).toBe(true);
  });

  it.each([["1."], [".5"], ["+1.00"], ["1.00 "], ["0x10"], ["١٢"], [""]])("rejects the malformed decimal %j", (value) => {
    expect(parseAmount(value, "USD").ok).toBe(false);
  });

  it("round-trips every amount it accepts through formatAmount", () => {
    for (const minor of [1, 9, 10, 99, 100, 101, 12_345, 999_999_999_999, 1_000_000_000_000]) {
      for (const currency of ["USD", "JPY"]) {
        expect(parseAmount(formatAmount(minor, currency), currency)).toEqual({ ok: true, minor });
      }
    }
  });
});
