import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CATALOG } from "../../src/core/errors.js";

describe("error catalog", () => {
  it("has unique numeric codes and is listed in full in the README", () => {
    const entries = Object.entries(ERROR_CATALOG);
    expect(new Set(entries.map(([, e]) => e.errorCode)).size).toBe(entries.length);
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const [code, e] of entries) {
      expect(readme).toContain(`| \`${code}\` | ${e.status} | ${e.errorCode} |`);
    }
  });
});
