/**
 * @module
 * Small runtime services: time, hashing, logging. Each runtime supplies its own
 * implementation (Node's hashing is synchronous and ~40x faster than Web Crypto's there).
 */

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface SecretHasher {
  /** Lower-case hex SHA-256 of the UTF-8 text. */
  sha256Hex(text: string): Promise<string> | string;
}

export type LogFields = Record<string, unknown>;

/** Structured logger. Implementations must redact secrets (see REDACTED_KEYS). */
export interface Logger {
  debug(fields: LogFields, msg?: string): void;
  info(fields: LogFields, msg?: string): void;
  warn(fields: LogFields, msg?: string): void;
  error(fields: LogFields, msg?: string): void;
  child(bindings: LogFields): Logger;
}

/** Field names whose values never reach a log line. */
export const REDACTED_KEYS = [
  "authorization",
  "client_secret",
  "clientSecret",
  "access_token",
  "accessToken",
  "token",
  "secret",
  "password",
  "cookie",
] as const;
