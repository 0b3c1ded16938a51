/**
 * @module
 * Output for people (tables) and for scripts (--json).
 */
import Table from "cli-table3";

export type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.join(" ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A table with the given columns, in order; missing values are blank. */
export function table(rows: Row[], columns: string[]): string {
  const t = new Table({ head: columns, style: { head: [], border: [] } });
  for (const r of rows) t.push(columns.map((c) => cell(r[c])));
  return t.toString();
}

/** One record as a two-column table (field, value). */
export function record(r: Row, fields?: string[]): string {
  const t = new Table({ style: { head: [], border: [] } });
  for (const k of fields ?? Object.keys(r)) t.push({ [k]: cell(r[k]) });
  return t.toString();
}
