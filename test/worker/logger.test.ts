/**
 * The Workers logger writes the same JSON lines as the Node (pino) logger, redacting the same keys
 * at the same depths, and honours LOG_LEVEL.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createPinoLogger } from "../../src/adapters/node/logger.js";
import { createConsoleLogger } from "../../src/adapters/workers/logger.js";
import { webCryptoHasher } from "../../src/adapters/workers/hasher.js";
import { nodeHasher } from "../../src/adapters/node/hasher.js";
import { REDACTED_KEYS } from "../../src/ports/runtime.js";

function capture() {
  const lines: string[] = [];
  return { lines, sink: (_level: string, line: string) => lines.push(line) };
}

function pinoLines(level: string, write: (l: ReturnType<typeof createPinoLogger>) => void): any[] {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  write(createPinoLogger(level, dest as never));
  return lines.map((l) => JSON.parse(l));
}

describe("workers logger", () => {
  it("redacts every secret-bearing key at the first three levels, like pino", () => {
    const fields = {
      ...Object.fromEntries(REDACTED_KEYS.map((k) => [k, `top-${k}`])),
      call: { authorization: "at_level2", reference_id: "r1", nested: { client_secret: "cs_level3", ok: "visible" } },
      list: [{ token: "at_in_array" }],
      status: 200,
    };
    const { lines, sink } = capture();
    createConsoleLogger("info", sink).child({ request_id: "req_1" }).info(fields, "request");
    const ours = JSON.parse(lines[0]);
    const [theirs] = pinoLines("info", (l) => l.child({ request_id: "req_1" }).info(fields, "request"));
    const strip = ({ time: _t, pid: _p, hostname: _h, ...rest }: any) => rest;
    expect(strip(ours)).toEqual(strip(theirs));
    expect(ours).toMatchObject({ level: "info", service: "batchgate", request_id: "req_1", msg: "request", status: 200 });
    expect(new Date(ours.time).toISOString()).toBe(ours.time);
    for (const k of REDACTED_KEYS) expect(ours[k]).toBe("[REDACTED]");
    expect(ours.call).toEqual({ authorization: "[REDACTED]", reference_id: "r1", nested: { client_secret: "[REDACTED]", ok: "visible" } });
    expect(lines[0]).not.toMatch(/top-|at_level2|cs_level3|at_in_array/);
  });

  it("writes nothing below LOG_LEVEL, and nothing at all when silent", () => {
    const warn = capture();
    const l = createConsoleLogger("warn", warn.sink);
    l.debug({}, "d");
    l.info({}, "i");
    l.warn({}, "w");
    l.error({}, "e");
    expect(warn.lines.map((x) => JSON.parse(x).msg)).toEqual(["w", "e"]);
    const silent = capture();
    createConsoleLogger("silent", silent.sink).error({}, "e");
    expect(silent.lines).toEqual([]);
  });
});

describe("workers hasher", () => {
  it("gives the same SHA-256 hex as the Node hasher", async () => {
    for (const s of ["", "at_abc", "cs_é✓", "x".repeat(10_000)]) expect(await webCryptoHasher.sha256Hex(s)).toBe(nodeHasher.sha256Hex(s));
  });
});
