/**
 * @module
 * Money: decimal strings outside, integer minor units inside. Never a float.
 */

/** ISO 4217 currencies the ledger accepts, with their minor-unit exponent. */
export const CURRENCY_EXPONENT: Readonly<Record<string, number>> = Object.freeze({
  USD: 2,
  EUR: 2,
  GBP: 2,
  CAD: 2,
  AUD: 2,
  CHF: 2,
  JPY: 0,
});

/** Largest amount in minor units we accept in one movement; keeps every sum a safe integer. */
export const MAX_MINOR_UNITS = 1_000_000_000_000; // 10 billion in a 2-decimal currency

export function isSupportedCurrency(currency: string): boolean {
  return Object.prototype.hasOwnProperty.call(CURRENCY_EXPONENT, currency);
}

export type AmountParse = { ok: true; minor: number } | { ok: false; reason: string };

/**
 * Parses a positive decimal string such as "12.34" into minor units for the currency.
 * Rejects numbers (floats), signs, exponents, more decimals than the currency has, zero,
 * and amounts over MAX_MINOR_UNITS.
 */
export function parseAmount(value: unknown, currency: string): AmountParse {
  if (typeof value !== "string") {
    return { ok: false, reason: 'must be a decimal string such as "10.00", not a number' };
  }
  if (!isSupportedCurrency(currency)) return { ok: false, reason: `currency ${currency} is not supported` };
  const exponent = CURRENCY_EXPONENT[currency];
  const m = /^(\d{1,16})(?:\.(\d+))?$/.exec(value);
  if (!m) return { ok: false, reason: 'must be a positive decimal string such as "10.00"' };
  const whole = m[1];
  const frac = m[2] ?? "";
  if (frac.length > exponent) {
    return { ok: false, reason: `has more than ${exponent} decimal places for ${currency}` };
  }
  const minor = Number(whole) * 10 ** exponent + (frac ? Number(frac.padEnd(exponent, "0")) : 0);
  if (!Number.isSafeInteger(minor) || minor > MAX_MINOR_UNITS) {
    return { ok: false, reason: "is larger than the maximum amount" };
  }
  if (minor <= 0) return { ok: false, reason: "must be greater than zero" };
  return { ok: true, minor };
}

/** Formats minor units as a decimal string with the currency's exponent ("1000.00"). */
export function formatAmount(minor: number, currency: string): string {
  const exponent = CURRENCY_EXPONENT[currency] ?? 2;
  const negative = minor < 0;
  const abs = Math.abs(minor);
  if (exponent === 0) return `${negative ? "-" : ""}${abs}`;
  const s = String(abs).padStart(exponent + 1, "0");
  return `${negative ? "-" : ""}${s.slice(0, -exponent)}.${s.slice(-exponent)}`;
}
