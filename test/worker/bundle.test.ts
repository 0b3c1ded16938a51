/**
 * Nothing Node-only reaches the worker bundle (issue point 5): the real build of src/worker.ts
 * (wrangler deploy --dry-run, no network) is checked, and so is the checker itself on bundles that
 * must fail.
 */
import { describe, expect, it } from "vitest";
import { checkWorkerBundle, findNodeImportsInText, findViolations, type Metafile } from "../../scripts/check-worker-bundle.js";

describe("worker bundle", () => {
  it("builds with wrangler and contains no node:* module, pino, better-sqlite3, ioredis or Node adapter", async () => {
    const report = await checkWorkerBundle();
    expect(report.violations).toEqual([]);
    // It is the gateway that was built: the shared app, the SQL store and the worker adapters.
    expect(report.inputs).toEqual(
      expect.arrayContaining(["src/worker.ts", "src/app.ts", "src/adapters/sqlite/sql-store.ts", "src/adapters/sqlite/durable-object-driver.ts", "src/adapters/workers/logger.ts"]),
    );
    expect(report.inputs.some((p) => p.includes("node_modules/hono/"))).toBe(true);
  }, 120_000);

  it("flags Node built-ins, Node-only packages and Node adapters", () => {
    const meta: Metafile = {
      inputs: {
        "src/worker.ts": { imports: [{ path: "src/adapters/node/hasher.ts" }] },
        "src/adapters/node/hasher.ts": { imports: [{ path: "node:crypto", external: true }] },
        "node_modules/pino/pino.js": { imports: [{ path: "os", external: true }, { path: "node:worker_threads", external: true }] },
        "node_modules/ioredis/built/index.js": { imports: [] },
        "node_modules/@hono/node-server/dist/index.mjs": { imports: [] },
        "node_modules/rate-limiter-flexible/index.js": { imports: [] },
        "node_modules/better-sqlite3/lib/index.js": { imports: [] },
        "node_modules/zod/index.js": { imports: [] },
      },
      outputs: { "out/worker.js": { imports: [{ path: "node:fs", external: true }, { path: "cloudflare:workers", external: true }] } },
    };
    const v = findViolations(meta);
    for (const expected of [
      "the bundle contains src/adapters/node/hasher.ts, which is Node-only",
      "src/adapters/node/hasher.ts imports the Node module node:crypto",
      "the bundle contains pino (node_modules/pino/pino.js)",
      "node_modules/pino/pino.js imports the Node module os",
      "node_modules/pino/pino.js imports the Node module node:worker_threads",
      "the bundle contains ioredis (node_modules/ioredis/built/index.js)",
      "the bundle contains @hono/node-server (node_modules/@hono/node-server/dist/index.mjs)",
      "the bundle contains rate-limiter-flexible (node_modules/rate-limiter-flexible/index.js)",
      "the bundle contains better-sqlite3 (node_modules/better-sqlite3/lib/index.js)",
      "out/worker.js imports the Node module node:fs",
    ]) {
      expect(v).toContain(expected);
    }
    expect(v.join("\n")).not.toMatch(/zod|cloudflare:workers/);
    // A module allowed on purpose (as with a compatibility flag) is not a violation.
    expect(findViolations({ inputs: {}, outputs: { "w.js": { imports: [{ path: "node:buffer", external: true }] } } }, ["node:buffer"])).toEqual([]);
  });

  it("also finds Node imports left in the bundle's text", () => {
    const code = `import { a } from "node:fs";\nconst b = await import("node:path");\nconst c = require('node:crypto');\nimport "node:os";\nconst s = "not an import of node:net";`;
    expect(findNodeImportsInText(code)).toEqual(["node:crypto", "node:fs", "node:os", "node:path"]);
    expect(findNodeImportsInText(code, ["node:fs", "path", "node:crypto", "node:os"])).toEqual([]);
  });
});
