/**
 * @module
 * The Logger port over pino: JSON lines, level from LOG_LEVEL, secret-bearing keys redacted at
 * any of the first three levels of a log object.
 */
import pino, { type DestinationStream } from "pino";
import { type Logger, REDACTED_KEYS } from "../../ports/runtime.js";

function redactPaths(): string[] {
  return REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

export function createPinoLogger(level: string, destination?: DestinationStream): Logger {
  const opts = {
    level,
    base: { service: "batchgate" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths(), censor: "[REDACTED]" },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return (destination ? pino(opts, destination) : pino(opts)) as unknown as Logger;
}
