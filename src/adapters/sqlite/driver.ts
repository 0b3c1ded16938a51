/**
 * @module
 * The tiny synchronous SQL driver the SQL store runs on: better-sqlite3 on Node,
 * Durable Object `ctx.storage.sql` on Workers. Web-standard code only.
 */

export type SqlValue = string | number | null;
export type SqlRow = Record<string, SqlValue>;

export interface SqlDriver {
  /** Runs one or more statements with no parameters (schema). */
  exec(sql: string): void;
  /** Runs a statement and returns the rows changed. */
  run(sql: string, params?: readonly SqlValue[]): number;
  get<T = SqlRow>(sql: string, params?: readonly SqlValue[]): T | undefined;
  all<T = SqlRow>(sql: string, params?: readonly SqlValue[]): T[];
  /** The first row's column values in SELECT order (no row object); optional: get() otherwise. */
  values?(sql: string, params?: readonly SqlValue[]): SqlValue[] | undefined;
  /** Runs fn in one transaction: committed if it returns, rolled back if it throws. */
  transaction<T>(fn: () => T): T;
  /** Runs fn in one read (deferred) transaction: its reads see one snapshot. fn must not write. */
  readTransaction<T>(fn: () => T): T;
  /** Whether a transaction (read or write) is open on this connection now. */
  inTransaction(): boolean;
  close(): void;
}
