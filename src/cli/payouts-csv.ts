/**
 * @module
 * The payouts CSV: reading a file of payout rows (csv-parse, sync), checking every row before
 * anything is sent, turning rows into /v1/batches payout items, and writing rows back out
 * (csv-stringify) for the failed items of a batch, so that file can be fixed and submitted again.
 *
 * The checks are the server's (the same zod schemas and amount rules as src/core/batch-item-input.ts),
 * done column by column so one run reports every bad cell of every row, with its line number.
 */
import { createHash } from "node:crypto";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { CUSTOMER_ID, parseItem, type PayoutItem } from "../core/batch-item-input.js";
import { formatAmount, parseAmount } from "../core/money.js";
import { currencyParam } from "../handlers/shapes.js";
import { PAYOUT_DESTINATIONS } from "../handlers/payouts.js";
import { PAYOUT_RAILS, type PayoutRail } from "../ports/rails.js";

/** One batch takes at most this many items (the server's default ASYNC_BATCH_MAX_ITEMS). */
export const MAX_ROWS = 5000;

export const REQUIRED_COLUMNS = ["user_id", "amount", "currency", "rail", "customer_transaction_id"] as const;
export const OPTIONAL_COLUMNS = ["destination", "idempotency_key", "reference_id"] as const;
/** Written to a failed-items file and ignored when it is read back. */
export const RESULT_COLUMNS = ["status", "error_code", "error_message"] as const;
/** Written to a failed-items file: a file with them retries those items of their batch. */
export const ORIGIN_COLUMNS = ["batch_id", "batch_index"] as const;
export const METADATA_PREFIX = "metadata.";

const KNOWN = new Set<string>([...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS, ...RESULT_COLUMNS, ...ORIGIN_COLUMNS]);
const USER_ID = /^usr_[A-Za-z0-9]{1,60}$/;
const BATCH_ID = /^batch_[A-Za-z0-9]{1,58}$/;

/** A refusal of the file: line 1 is the header; `column` is "" for the row or file itself. */
export interface RowProblem {
  line: number;
  column: string;
  message: string;
}

export interface PayoutRow {
  /** The line the row starts on (the header is line 1). */
  line: number;
  /** Every cell by column name, as read (trimmed). */
  cells: Record<string, string>;
  /** The /v1/batches payout item this row becomes. */
  item: PayoutItem;
  /** In a failed-items file: the batch item this row is. */
  origin?: { batchId: string; index: number };
}

export interface PayoutFile {
  header: string[];
  rows: PayoutRow[];
  problems: RowProblem[];
  /** SHA-256 (hex) of the file's bytes: names its batch, so the same file is the same batch. */
  sha256: string;
  /** The file carries batch_id and batch_index: its rows are retries of one batch's items. */
  retryOf: string | null;
}

/** `line N: column: message`, one per problem, in line order. */
export function formatProblems(problems: RowProblem[]): string {
  return [...problems]
    .sort((a, b) => a.line - b.line)
    .map((p) => `line ${p.line}: ${p.column ? `${p.column}: ` : ""}${p.message}`)
    .join("\n");
}

/** The batch idempotency key of a file: the same bytes always name the same batch. */
export const batchKeyOf = (sha256: string) => `csv:${sha256.slice(0, 40)}`;

/** The item idempotency key of a row without one: from its customer_transaction_id. */
export const itemKeyOf = (customerTransactionId: string) => `ctx:${customerTransactionId}`;

const lineBreaks = (s: string) => s.match(/\r\n|\n|\r/g)?.length ?? 0;

/**
 * Reads and checks a payouts CSV. Never throws on content: every problem is in `problems` (and
 * then `rows` must not be submitted).
 */
export function readPayoutsCsv(content: string | Uint8Array, opts: { maxRows?: number } = {}): PayoutFile {
  const maxRows = opts.maxRows ?? MAX_ROWS;
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : Buffer.from(content);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const empty = (problems: RowProblem[]): PayoutFile => ({ header: [], rows: [], problems, sha256, retryOf: null });

  let parsed: { record: string[]; raw: string }[];
  try {
    parsed = parse(bytes.toString("utf8"), { bom: true, raw: true, relax_column_count: true, skip_empty_lines: true }) as never;
  } catch (e) {
    const err = e as Error & { lines?: number };
    return empty([{ line: err.lines ?? 1, column: "", message: `not readable as CSV: ${err.message}` }]);
  }
  // Line numbers from the raw text (a record's raw text begins with the empty lines skipped before it).
  let nextLine = 1;
  const withLines = parsed.map((r) => {
    const line = nextLine + lineBreaks(/^(?:\r\n|\n|\r)*/.exec(r.raw)![0]);
    nextLine += lineBreaks(r.raw);
    return { record: r.record, line };
  });
  // A row of empty cells (a spreadsheet's trailing ",,,") is no row.
  const records = withLines.filter((r) => r.record.some((c) => c.trim() !== ""));
  const lineOf = (r: { line: number }) => r.line;
  if (records.length === 0) {
    return empty([{ line: 1, column: "", message: `the file is empty: expected a header row (${REQUIRED_COLUMNS.join(",")},…) and at least one payout row` }]);
  }

  const problems: RowProblem[] = [];
  const headerLine = lineOf(records[0]!);
  const header = records[0]!.record.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h)) problems.push({ line: headerLine, column: h, message: "the column appears twice" });
    seen.add(h);
    if (h === "") problems.push({ line: headerLine, column: "", message: "a column has no name" });
    else if (h.startsWith(METADATA_PREFIX)) {
      if (h.length === METADATA_PREFIX.length) problems.push({ line: headerLine, column: h, message: "a metadata column needs a key after metadata." });
    } else if (!KNOWN.has(h)) {
      problems.push({ line: headerLine, column: h, message: `unknown column (known: ${[...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS].join(", ")}, metadata.<key>; ${[...RESULT_COLUMNS].join(", ")} are ignored)` });
    }
  }
  for (const c of REQUIRED_COLUMNS) if (!seen.has(c)) problems.push({ line: headerLine, column: c, message: "required column missing" });
  const retrying = seen.has("batch_id") || seen.has("batch_index");
  if (retrying && !(seen.has("batch_id") && seen.has("batch_index"))) {
    problems.push({ line: headerLine, column: seen.has("batch_id") ? "batch_index" : "batch_id", message: "batch_id and batch_index go together (a failed-items file has both)" });
  }
  const body = records.slice(1);
  if (body.length === 0) problems.push({ line: headerLine, column: "", message: "the file has a header and no payout rows" });
  if (body.length > maxRows) {
    problems.push({ line: lineOf(body[maxRows]!), column: "", message: `${body.length.toLocaleString("en-US")} rows: one batch takes at most ${maxRows.toLocaleString("en-US")}; split the file` });
  }
  if (REQUIRED_COLUMNS.some((c) => !seen.has(c))) {
    // Without the required columns no row can be judged.
    return { ...empty(problems), header };
  }

  const rows: PayoutRow[] = [];
  const ctxLines = new Map<string, number>();
  const keyLines = new Map<string, number>();
  const indexLines = new Map<number, number>();
  let retryOf: string | null = null;
  for (const r of body) {
    const line = lineOf(r);
    const bad = (column: string, message: string) => problems.push({ line, column, message });
    if (r.record.length !== header.length) {
      bad("", `has ${r.record.length} fields, the header has ${header.length}`);
      continue;
    }
    const cells: Record<string, string> = {};
    header.forEach((h, i) => (cells[h] = (r.record[i] ?? "").trim()));
    const before = problems.length;

    const userId = cells.user_id!;
    if (!userId) bad("user_id", "is required");
    else if (!USER_ID.test(userId)) bad("user_id", "must be a user id (usr_ and up to 60 letters or digits)");

    const currency = cells.currency!;
    const currencyOk = currencyParam.safeParse(currency);
    if (!currency) bad("currency", "is required");
    else if (!currencyOk.success) bad("currency", currencyOk.error.issues[0]!.message);

    let amount = cells.amount!;
    if (!amount) bad("amount", "is required");
    else if (currencyOk.success) {
      const parsed = parseAmount(amount, currency);
      if (!parsed.ok) bad("amount", parsed.reason);
      else amount = formatAmount(parsed.minor, currency);
    } else if (!/^\d{1,16}(\.\d+)?$/.test(amount)) bad("amount", 'must be a positive decimal string such as "10.00"');
    else if (!/[1-9]/.test(amount)) bad("amount", "must be greater than zero");

    const rail = cells.rail!;
    const railOk = (PAYOUT_RAILS as readonly string[]).includes(rail);
    if (!rail) bad("rail", "is required");
    else if (!railOk) bad("rail", `must be one of ${PAYOUT_RAILS.join(", ")}`);

    const ctx = cells.customer_transaction_id!;
    if (!ctx) bad("customer_transaction_id", "is required (it names the payout: a re-run of the file never pays it twice)");
    else if (!CUSTOMER_ID.test(ctx)) bad("customer_transaction_id", "must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'");
    else if (ctxLines.has(ctx)) bad("customer_transaction_id", `${ctx} is also on line ${ctxLines.get(ctx)}`);
    else ctxLines.set(ctx, line);

    let destination: Record<string, unknown> | undefined;
    const rawDestination = cells.destination ?? "";
    if (rawDestination) {
      let value: unknown;
      try {
        value = JSON.parse(rawDestination);
      } catch {
        value = undefined;
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        bad("destination", 'must be a JSON object, e.g. {"routing_number":"021000021","account_number":"12345678"} (blank: the recipient\'s default)');
      } else if (railOk) {
        const d = PAYOUT_DESTINATIONS[rail as PayoutRail].safeParse(value);
        if (!d.success) {
          const issue = d.error.issues[0]!;
          const path = issue.path.map(String).join(".");
          const what = issue.code === "unrecognized_keys" ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}` : issue.message;
          bad("destination", `${rail}: ${path ? `${path}: ` : ""}${what}`);
        } else destination = d.data;
      }
    }

    const key = cells.idempotency_key || (ctx ? itemKeyOf(ctx) : "");
    if (key.length > 255) bad("idempotency_key", "must be at most 255 characters");
    else if (key && keyLines.has(key)) {
      // A derived key repeats only with its customer_transaction_id, which is reported already.
      if (cells.idempotency_key) bad("idempotency_key", `${key} is also the key of line ${keyLines.get(key)}`);
    } else if (key) keyLines.set(key, line);

    const referenceId = cells.reference_id ?? "";
    if (referenceId.length > 255) bad("reference_id", "must be at most 255 characters");

    const metadata: Record<string, string> = {};
    for (const h of header) if (h.startsWith(METADATA_PREFIX) && h.length > METADATA_PREFIX.length && cells[h]) metadata[h.slice(METADATA_PREFIX.length)] = cells[h]!;

    let origin: PayoutRow["origin"];
    if (retrying && seen.has("batch_id") && seen.has("batch_index")) {
      const batchId = cells.batch_id!;
      const index = cells.batch_index!;
      if (!batchId) bad("batch_id", "is required in a failed-items file (its rows retry items of their batch); new payouts go in a file without batch_id and batch_index");
      else if (!BATCH_ID.test(batchId)) bad("batch_id", "must be a batch id (batch_…)");
      else if (retryOf === null) retryOf = batchId;
      else if (batchId !== retryOf) bad("batch_id", `a failed-items file holds items of one batch (the file's first row has ${retryOf})`);
      if (!/^\d{1,6}$/.test(index)) bad("batch_index", "must be an item index (0, 1, …)");
      else if (indexLines.has(Number(index))) bad("batch_index", `item ${index} is also on line ${indexLines.get(Number(index))}`);
      else indexLines.set(Number(index), line);
      if (batchId && /^\d{1,6}$/.test(index)) origin = { batchId, index: Number(index) };
    }

    if (problems.length > before) continue;
    const candidate = {
      type: "payout",
      user_id: userId,
      amount,
      currency,
      rail,
      customer_transaction_id: ctx,
      idempotency_key: key,
      ...(destination ? { destination } : {}),
      ...(referenceId ? { reference_id: referenceId } : {}),
      ...(Object.keys(metadata).length ? { metadata } : {}),
    };
    // The server's own check of the item, so the two never drift apart.
    const checked = parseItem(candidate);
    if (!checked.ok || checked.parsed.kind !== "payout") {
      bad(checked.ok ? "" : checked.problem.field.split(".")[0] ?? "", checked.ok ? "is not a payout item" : checked.problem.message);
      continue;
    }
    rows.push({ line, cells, item: checked.parsed.item, ...(origin ? { origin } : {}) });
  }
  return { header, rows, problems, sha256, retryOf: retrying ? retryOf : null };
}

/** What a failed item gets in the written file: its outcome, error and where it is. */
export interface FailedInfo {
  status: string;
  errorCode: string;
  errorMessage: string;
  batchId: string;
  index: number;
}

/**
 * The failed-items file: the rows as they were read (their own columns, in their order) with
 * status, error_code, error_message, batch_id and batch_index, correctly quoted.
 */
export function failedRowsCsv(header: string[], rows: { cells: Record<string, string>; failure: FailedInfo }[]): string {
  const own = header.filter((h) => !(RESULT_COLUMNS as readonly string[]).includes(h) && !(ORIGIN_COLUMNS as readonly string[]).includes(h));
  const columns = [...own, ...RESULT_COLUMNS, ...ORIGIN_COLUMNS];
  const records = rows.map(({ cells, failure }) => [
    ...own.map((h) => cells[h] ?? ""),
    failure.status,
    failure.errorCode,
    failure.errorMessage,
    failure.batchId,
    String(failure.index),
  ]);
  return stringify([columns, ...records]);
}

/** An item result of GET /v1/batches/{id}/results (payout items; include_request=true for destination and metadata). */
export interface ItemResult {
  index: number;
  type?: string;
  customer_transaction_id?: string;
  user_id?: string;
  amount?: string;
  currency?: string;
  rail?: string;
  reference_id: string | null;
  idempotency_key: string | null;
  status: string;
  response?: { outcome?: string; error_code?: string | null; error_message?: string | null } | null;
  request?: { parameters?: { destination?: unknown } | null };
  metadata?: unknown;
}

/** A payout item's outcome: its response's, else its status (pending, cancelled). */
export function outcomeOf(r: ItemResult): string {
  if (r.status === "pending" || r.status === "cancelled") return r.status;
  return r.response?.outcome ?? r.status;
}

/** Item results in the payouts CSV shape (the failed-items file's columns), so they can be submitted again. */
export function resultsCsv(batchId: string, results: ItemResult[]): string {
  const metaKeys: string[] = [];
  for (const r of results) {
    if (r.metadata && typeof r.metadata === "object") for (const k of Object.keys(r.metadata)) if (!metaKeys.includes(k)) metaKeys.push(k);
  }
  const header = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS, ...metaKeys.map((k) => `${METADATA_PREFIX}${k}`)];
  return failedRowsCsv(
    header,
    results.map((r) => {
      const destination = r.request?.parameters?.destination;
      const meta = (r.metadata && typeof r.metadata === "object" ? r.metadata : {}) as Record<string, unknown>;
      const cells: Record<string, string> = {
        user_id: r.user_id ?? "",
        amount: r.amount ?? "",
        currency: r.currency ?? "",
        rail: r.rail ?? "",
        customer_transaction_id: r.customer_transaction_id ?? "",
        destination: destination && typeof destination === "object" ? JSON.stringify(destination) : "",
        idempotency_key: r.idempotency_key ?? "",
        reference_id: r.reference_id ?? "",
      };
      for (const k of metaKeys) if (meta[k] !== undefined && meta[k] !== null) cells[`${METADATA_PREFIX}${k}`] = typeof meta[k] === "string" ? meta[k] : JSON.stringify(meta[k]);
      return {
        cells,
        failure: { status: outcomeOf(r), errorCode: r.response?.error_code ?? "", errorMessage: r.response?.error_message ?? "", batchId, index: r.index },
      };
    }),
  );
}

/**
 * Where a row differs from the batch item it claims to be (a failed-items file): a retry runs the
 * item as stored, so a changed row cannot be retried.
 */
export function differencesFromStored(row: PayoutRow, stored: ItemResult): { column: string; stored: string }[] {
  const out: { column: string; stored: string }[] = [];
  const same = (column: string, mine: string, theirs: string | null | undefined) => {
    if (mine !== (theirs ?? "")) out.push({ column, stored: theirs ?? "" });
  };
  same("user_id", row.item.user_id, stored.user_id);
  same("amount", row.item.amount, stored.amount);
  same("currency", row.item.currency, stored.currency);
  same("rail", row.item.rail, stored.rail);
  same("customer_transaction_id", row.item.customer_transaction_id ?? "", stored.customer_transaction_id);
  same("idempotency_key", row.item.idempotency_key, stored.idempotency_key);
  const storedDestination = stored.request?.parameters?.destination;
  same("destination", row.item.destination ? canonical(row.item.destination) : "", storedDestination && typeof storedDestination === "object" ? canonical(storedDestination) : "");
  return out;
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
    .join(",")}}`;
}
