/**
 * @module
 * The Logger port for Workers: one JSON object per line through `console`, in the same shape as
 * the Node (pino) logger — `level` as a label, ISO `time`, `service`, the bindings, the fields,
 * `msg` — and with the same redaction: a key from REDACTED_KEYS at any of the first three levels
 * of a log object is replaced by "[REDACTED]". Workers Logs and `wrangler tail` index the JSON.
 *
 * Web-standard code only.
 */
import { type LogFields, type Logger, REDACTED_KEYS } from "../../ports/runtime.js";

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LogLevel = keyof typeof LEVELS;

export const CENSOR = "[REDACTED]";
const REDACTED = new Set<string>(REDACTED_KEYS);
/** pino redacts `k`, `*.k` and `*.*.k`: keys at depth 1, 2 and 3. */
const REDACT_DEPTH = 3;

/** Where lines go: console by default (tests pass a collector). */
export type LogSink = (level: "debug" | "info" | "warn" | "error", line: string) => void;

/**
 * Every level goes through console.log, as pino writes every level to stdout: the line is the
 * same JSON on both runtimes, `level` is a field of it (Workers Logs indexes it), and wrangler dev
 * prints it as is (it decorates console.warn and console.error output with its own banner).
 */
export const consoleSink: LogSink = (_level, line) => {
  console.log(line);
};

/** A copy of `value` with secret-bearing keys censored down to REDACT_DEPTH levels. */
export function redact(value: unknown, depth = 1): unknown {
  if (typeof value !== "object" || value === null || depth > REDACT_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = REDACTED.has(k) ? CENSOR : redact(v, depth + 1);
  return out;
}

export function createConsoleLogger(level: string, sink: LogSink = consoleSink, bindings: LogFields = { service: "batchgate" }): Logger {
  const threshold = LEVELS[(level in LEVELS ? level : "info") as LogLevel];
  const write = (name: "debug" | "info" | "warn" | "error", fields: LogFields, msg?: string) => {
    if (LEVELS[name] < threshold) return;
    const record: Record<string, unknown> = { level: name, time: new Date().toISOString(), ...bindings, ...fields };
    if (msg !== undefined) record.msg = msg;
    let line: string;
    try {
      line = JSON.stringify(redact(record));
    } catch {
      line = JSON.stringify({ level: name, time: record.time, msg, log_error: "fields could not be serialized" });
    }
    sink(name, line);
  };
  return {
    debug: (f, m) => write("debug", f, m),
    info: (f, m) => write("info", f, m),
    warn: (f, m) => write("warn", f, m),
    error: (f, m) => write("error", f, m),
    child: (more) => createConsoleLogger(level, sink, { ...bindings, ...more }),
  };
}
