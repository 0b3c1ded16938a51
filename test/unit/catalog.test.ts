import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CATALOG } from "../../src/core/errors.js";

describe("error catalog", () => {
  it("has unique numeric codes and is listed in full in the README", () => {
    const entries = Object.entries(ERROR_CATALOG);
    expect(new Set(entries.map(([, e]) => e.errorCode)).size).toBe(entries.length);
    // docs/payout-items.md and docs/treasury.md are README-ready text, with their catalog rows.
    const readme = ["../../README.md", "../../docs/payout-items.md", "../../docs/treasury.md"].map((f) => readFileSync(new URL(f, import.meta.url), "utf8")).join("\n");
    for (const [code, e] of entries) {
      expect(readme).toContain(`| \`${code}\` | ${e.status} | ${e.errorCode} |`);
    }
  });
});
