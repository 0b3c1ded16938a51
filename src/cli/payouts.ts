/**
 * @module
 * `batchgate payouts …`: mass payouts from a CSV file through /v1/batches, for the people who pay
 * people. `submit` checks every row first (nothing is sent while one is bad), creates and processes
 * the batch (its idempotency key is the file's hash: the same file is the same batch), and with
 * `--wait` shows progress until the batch ends, then a summary and a file of the failed items
 * that can be fixed and submitted again (it retries those items of their batch). `status` and
 * `results` read a batch. The API client's credentials come from BATCHGATE_CLIENT_ID and
 * BATCHGATE_CLIENT_SECRET (never printed).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Command, InvalidArgumentError } from "commander";
import { formatAmount, parseAmount } from "../core/money.js";
import { ApiClient, ApiError } from "./api.js";
import { EXIT, ExitWith, UsageError } from "./exit.js";
import { record, table } from "./format.js";
import {
  batchKeyOf,
  differencesFromStored,
  failedRowsCsv,
  formatProblems,
  type ItemResult,
  outcomeOf,
  type PayoutFile,
  type PayoutRow,
  readPayoutsCsv,
  resultsCsv,
  type RowProblem,
} from "./payouts-csv.js";
import { type BatchCounts, ProgressView, type ProgressStream } from "./progress.js";

export interface PayoutsIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
  /** Where progress is drawn (stderr); redrawn in place when `isTTY`. */
  progress?: ProgressStream;
  sleep?: (ms: number) => Promise<void>;
}

interface Batch extends BatchCounts {
  id: string;
  status: string;
  customer_batch_id: string | null;
  label: string | null;
  idempotency_key: string | null;
  percent_done: number;
  [k: string]: unknown;
}

const TERMINAL = new Set(["completed", "completed_with_failures", "failed", "cancelled", "expired"]);
const OUTCOME_ORDER = ["completed", "pending", "retained_in_wallet", "failed", "cancelled"];
/** Failed polls in a row (gateway unreachable or 5xx) at which --wait gives up (exit 3). */
const POLL_MISSES = 10;
/** The server's default ASYNC_BATCH_MAX_BODY_BYTES. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const BATCH_FIELDS = ["id", "status", "customer_batch_id", "label", "total_count", "succeeded_count", "failed_count", "cancelled_count", "pending_count", "percent_done", "submitted_at", "completed_at", "created_at"];

const positiveInt = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("must be a positive whole number");
  return Number(v);
};
const batchIdArg = (v: string) => {
  if (!/^batch_[A-Za-z0-9]{1,58}$/.test(v)) throw new InvalidArgumentError("must be a batch id (batch_…)");
  return v;
};
const itemStatusArg = (v: string) => {
  if (!["pending", "succeeded", "failed", "cancelled"].includes(v)) throw new InvalidArgumentError("must be pending, succeeded, failed or cancelled");
  return v;
};

/** `payouts.csv` → `payouts.failed.csv` beside it. */
export function defaultFailedPath(file: string): string {
  const name = basename(file).replace(/\.csv$/i, "");
  return join(dirname(file), `${name}.failed.csv`);
}

/** Counts and totals (by currency, in minor units) of the rows' items, by outcome. */
export function summarize(results: ItemResult[]) {
  const groups = new Map<string, { outcome: string; currency: string; items: number; minor: number }>();
  const codes = new Map<string, number>();
  for (const r of results) {
    const outcome = outcomeOf(r);
    const currency = r.currency ?? "";
    const parsed = parseAmount(r.amount, currency);
    const g = groups.get(`${outcome} ${currency}`) ?? { outcome, currency, items: 0, minor: 0 };
    g.items += 1;
    g.minor += parsed.ok ? parsed.minor : 0;
    groups.set(`${outcome} ${currency}`, g);
    const code = r.response?.error_code;
    if (code) codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  const rank = (o: string) => (OUTCOME_ORDER.includes(o) ? OUTCOME_ORDER.indexOf(o) : OUTCOME_ORDER.length);
  const outcomes = [...groups.values()]
    .sort((a, b) => rank(a.outcome) - rank(b.outcome) || a.currency.localeCompare(b.currency))
    .map((g) => ({ outcome: g.outcome, currency: g.currency, items: g.items, amount: formatAmount(g.minor, g.currency) }));
  const errorCodes = [...codes.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([error_code, items]) => ({ error_code, items }));
  return { outcomes, error_codes: errorCodes };
}

/** Adds the `payouts` commands to the program. `start` runs an action's work (main awaits it). */
export function registerPayouts(program: Command, io: PayoutsIo, start: (work: () => Promise<void>) => void): void {
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const globals = (cmd: Command) => cmd.optsWithGlobals() as { url: string; json?: boolean };
  const client = (cmd: Command) => {
    const clientId = io.env.BATCHGATE_CLIENT_ID;
    const clientSecret = io.env.BATCHGATE_CLIENT_SECRET;
    if (!clientId || !clientSecret) {
      throw new UsageError(
        `${!clientId ? "BATCHGATE_CLIENT_ID" : "BATCHGATE_CLIENT_SECRET"} is not set: export the API client's client_id as BATCHGATE_CLIENT_ID and its client_secret as BATCHGATE_CLIENT_SECRET.`,
      );
    }
    return new ApiClient({ url: globals(cmd).url, basic: { clientId, clientSecret }, fetch: io.fetch });
  };

  /** Every result of a batch (pages of 1,000), up to `limit`. */
  const allResults = async (api: ApiClient, batchId: string, q: { status?: string; includeRequest?: boolean; limit?: number } = {}) => {
    const out: ItemResult[] = [];
    let after: number | undefined;
    for (;;) {
      const want = q.limit === undefined ? 1000 : Math.min(1000, q.limit - out.length);
      if (want <= 0) break;
      const page = await api.get<{ data: ItemResult[]; has_more: boolean }>(`/v1/batches/${batchId}/results`, {
        limit: want,
        starting_after: after,
        status: q.status,
        include_request: q.includeRequest ? "true" : undefined,
      });
      out.push(...page.data);
      if (!page.has_more || page.data.length === 0) break;
      after = page.data[page.data.length - 1]!.index;
    }
    return out;
  };

  /** Polls the batch until it is final, drawing progress. */
  const waitFor = async (api: ApiClient, batchId: string, pollMs: number, since: { at: number; done: number }): Promise<Batch> => {
    const view = new ProgressView(io.progress ?? { isTTY: false, write: (s) => io.err(s) }, Date.now, since);
    try {
      let misses = 0;
      for (;;) {
        let b: Batch;
        try {
          b = await api.get<Batch>(`/v1/batches/${batchId}`);
          misses = 0;
        } catch (e) {
          // The batch runs on without us: ride out a short outage or restart of the gateway.
          const transient = e instanceof ApiError && (e.status === 0 || e.status >= 500);
          if (!transient || ++misses >= POLL_MISSES) throw e;
          await sleep(pollMs);
          continue;
        }
        view.update(b);
        if (TERMINAL.has(b.status)) return b;
        await sleep(pollMs);
      }
    } finally {
      view.finish();
    }
  };

  /** The summary of the file's items and the failed-items file; the exit code. */
  const report = async (api: ApiClient, cmd: Command, file: PayoutFile, indexOf: (row: PayoutRow) => number, batch: Batch, failedOut: string) => {
    const byIndex = new Map((await allResults(api, batch.id)).map((r) => [r.index, r]));
    const mine = file.rows.map((row) => ({ row, result: byIndex.get(indexOf(row)) })).filter((x): x is { row: PayoutRow; result: ItemResult } => x.result !== undefined);
    const summary = summarize(mine.map((x) => x.result));
    const failed = mine.filter((x) => x.result.status === "failed");
    let written: string | null = null;
    if (failed.length > 0) {
      writeFileSync(
        failedOut,
        failedRowsCsv(
          file.header,
          failed.map(({ row, result }) => ({
            cells: row.cells,
            failure: { status: outcomeOf(result), errorCode: result.response?.error_code ?? "", errorMessage: result.response?.error_message ?? "", batchId: batch.id, index: result.index },
          })),
        ),
      );
      written = failedOut;
    }
    if (globals(cmd).json) {
      io.out(JSON.stringify({ batch, ...summary, failed_file: written }, null, 2));
    } else {
      const lines = [
        `batch ${batch.id} ${batch.status} · customer_batch_id ${batch.customer_batch_id ?? "-"} · ${mine.length.toLocaleString("en-US")} items of this file`,
        table(summary.outcomes, ["outcome", "currency", "items", "amount"]),
      ];
      if (summary.error_codes.length) lines.push(table(summary.error_codes, ["error_code", "items"]));
      lines.push(
        written
          ? `${failed.length.toLocaleString("en-US")} failed items written to ${written}: fix what made them fail, then run: batchgate payouts submit ${written} --wait`
          : "no failed items",
      );
      io.out(lines.join("\n"));
    }
    const unpaid = mine.some((x) => x.result.status === "failed" || x.result.status === "cancelled");
    return unpaid ? EXIT.unpaid : EXIT.ok;
  };

  /** A refusal of the gateway about one item, told by the line of its row. */
  const byLine = (e: unknown, rows: PayoutRow[]): never => {
    if (e instanceof ApiError && typeof e.details?.index === "number" && rows[e.details.index]) {
      const row = rows[e.details.index]!;
      const field = typeof e.details.field === "string" ? e.details.field.split(".")[0] : /customer_transaction_id/.test(e.code) ? "customer_transaction_id" : /idempotency_key/.test(e.code) ? "idempotency_key" : "";
      let message = e.message.replace(/^(items\[\d+\]|Item \d+):\s*/, "");
      if (field && message.startsWith(`${field}: `)) message = message.slice(field.length + 2);
      throw new ExitWith(EXIT.refused, `error: ${e.code}: nothing was submitted\nline ${row.line}: ${field ? `${field}: ` : ""}${message}${e.requestId ? ` (request ${e.requestId})` : ""}`);
    }
    throw e;
  };

  const payouts = program.command("payouts").description("mass payouts from a CSV file (API client credentials: BATCHGATE_CLIENT_ID, BATCHGATE_CLIENT_SECRET)");

  payouts
    .command("submit")
    .description("check every row of a payouts CSV, then create and process its batch (a failed-items file retries its items)")
    .argument("<file>", "the CSV file (header: user_id,amount,currency,rail,customer_transaction_id,…)")
    .option("--wait", "show progress until the batch ends, then the summary and the failed-items file")
    .option("--customer-batch-id <id>", "your id for the batch (1-100 of A-Z a-z 0-9 . _ : -)")
    .option("--label <label>", "a label for the batch (default: the file's name)")
    .option("--failed-out <path>", "where --wait writes the failed items (default: <file>.failed.csv beside the file)")
    .option("--poll-ms <n>", "how often --wait asks for the batch's progress, in milliseconds", positiveInt, 1000)
    .action((path: string, o: { wait?: boolean; customerBatchId?: string; label?: string; failedOut?: string; pollMs: number }, cmd: Command) =>
      start(async () => {
        const api = client(cmd);
        let content: Buffer;
        try {
          content = readFileSync(path);
        } catch (e) {
          throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (o.customerBatchId !== undefined && !/^[A-Za-z0-9._:-]{1,100}$/.test(o.customerBatchId)) {
          throw new UsageError("--customer-batch-id must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'.");
        }
        const file = readPayoutsCsv(content);
        const refuse = (problems: RowProblem[]) =>
          new ExitWith(EXIT.refused, `error: ${path}: ${problems.length} ${problems.length === 1 ? "problem" : "problems"}; nothing was submitted\n${formatProblems(problems)}`);
        if (file.problems.length > 0) throw refuse(file.problems);
        const failedOut = o.failedOut ?? defaultFailedPath(path);

        if (file.retryOf) {
          // A failed-items file: its rows are items of one batch, retried as stored.
          const batchId = file.retryOf;
          const stored = new Map((await allResults(api, batchId, { includeRequest: true })).map((r) => [r.index, r]));
          const problems: RowProblem[] = [];
          for (const row of file.rows) {
            const item = stored.get(row.origin!.index);
            if (!item) {
              problems.push({ line: row.line, column: "batch_index", message: `batch ${batchId} has no item ${row.origin!.index}` });
              continue;
            }
            for (const d of differencesFromStored(row, item)) {
              problems.push({
                line: row.line,
                column: d.column,
                message: `differs from item ${item.index} of ${batchId} (${JSON.stringify(d.stored)}): a retry pays the item as it was submitted; restore the cell, or pay it as a new payout (a new customer_transaction_id, in a file without batch_id and batch_index)`,
              });
            }
          }
          if (problems.length > 0) throw refuse(problems);
          const retriedAt = Date.now();
          const retried = await api.post<{ batch: Batch; retried_count: number; items: { index: number; outcome: string }[] }>(`/v1/batches/${batchId}/retry`, {
            items: file.rows.map((r) => r.origin!.index),
          });
          const by = new Map<string, number>();
          for (const it of retried.items) by.set(it.outcome, (by.get(it.outcome) ?? 0) + 1);
          io.err(`retrying ${retried.retried_count} of ${file.rows.length} items of batch ${batchId} (${[...by.entries()].map(([k, v]) => `${k}: ${v}`).join(", ")})`);
          if (!o.wait) {
            io.out(globals(cmd).json ? JSON.stringify(retried, null, 2) : record(retried.batch, BATCH_FIELDS));
            return;
          }
          const final = await waitFor(api, batchId, o.pollMs, { at: retriedAt, done: retried.batch.total_count - retried.batch.pending_count });
          throw new ExitWith(await report(api, cmd, file, (row) => row.origin!.index, final, failedOut), "");
        }

        const body = {
          idempotency_key: batchKeyOf(file.sha256),
          label: o.label ?? basename(path),
          ...(o.customerBatchId ? { customer_batch_id: o.customerBatchId } : {}),
          items: file.rows.map((r) => r.item),
          process: true,
        };
        const json = JSON.stringify(body);
        if (new TextEncoder().encode(json).length > MAX_BODY_BYTES) {
          throw new ExitWith(EXIT.refused, `error: ${path}: the batch would be more than 10 MiB; split the file (nothing was submitted)`);
        }
        const submittedAt = Date.now();
        const created = await api.postWithStatus<Batch>("/v1/batches", body).catch((e: unknown) => byLine(e, file.rows));
        const batch = created.body;
        if (created.status === 200) {
          io.err(`batch ${batch.id} was already submitted from this file (status ${batch.status}): nothing new submitted`);
        } else {
          io.err(`batch ${batch.id} submitted: ${batch.total_count.toLocaleString("en-US")} payouts, customer_batch_id ${batch.customer_batch_id}`);
        }
        if (!o.wait) {
          io.out(globals(cmd).json ? JSON.stringify(batch, null, 2) : `${record(batch, BATCH_FIELDS)}\nfollow it with: batchgate payouts status ${batch.id}`);
          return;
        }
        // A batch already submitted from this file: its progress counts from now.
        const since = created.status === 200 ? { at: Date.now(), done: batch.total_count - batch.pending_count } : { at: submittedAt, done: 0 };
        const final = await waitFor(api, batch.id, o.pollMs, since);
        // Item i of the batch is row i of the file.
        const indexOf = new Map(file.rows.map((r, i) => [r, i]));
        throw new ExitWith(await report(api, cmd, file, (row) => indexOf.get(row)!, final, failedOut), "");
      }),
    );

  payouts
    .command("status")
    .description("a batch's status and counts")
    .argument("<batch_id>", "the batch", batchIdArg)
    .action((batchId: string, _o: unknown, cmd: Command) =>
      start(async () => {
        const b = await client(cmd).get<Batch>(`/v1/batches/${batchId}`);
        io.out(globals(cmd).json ? JSON.stringify(b, null, 2) : record(b, BATCH_FIELDS));
      }),
    );

  payouts
    .command("results")
    .description("a batch's item results, every page (a table, --csv in the payouts CSV shape, or --json)")
    .argument("<batch_id>", "the batch", batchIdArg)
    .option("--status <status>", "only items in this status: pending, succeeded, failed or cancelled", itemStatusArg)
    .option("--csv", "print CSV in the payouts file shape (with status, error and batch columns): a failed-items file")
    .option("--limit <n>", "at most this many items (default: all)", positiveInt)
    .action((batchId: string, o: { status?: string; csv?: boolean; limit?: number }, cmd: Command) =>
      start(async () => {
        const results = await allResults(client(cmd), batchId, { status: o.status, includeRequest: o.csv || globals(cmd).json, limit: o.limit });
        if (o.csv) io.out(resultsCsv(batchId, results));
        else if (globals(cmd).json) io.out(JSON.stringify({ object: "list", data: results }, null, 2));
        else {
          const rows = results.map((r) => ({ ...r, outcome: outcomeOf(r), error_code: r.response?.error_code ?? "" }));
          io.out(`${table(rows, ["index", "customer_transaction_id", "user_id", "amount", "currency", "rail", "status", "outcome", "error_code"])}\n${results.length.toLocaleString("en-US")} items`);
        }
      }),
    );

  payouts
    .command("example-csv")
    .description("print docs/examples/payouts.csv with its usr_DEMO<n> recipients replaced by the demo seed's users")
    .option("--credentials <path>", "the demo seed's credentials file (default: $DATA_DIR/demo-credentials.json, DATA_DIR defaulting to ./data)")
    .option("--template <path>", "the CSV to fill in (default: the package's docs/examples/payouts.csv)")
    .action((o: { credentials?: string; template?: string }) =>
      start(async () => {
        const credsPath = o.credentials ?? join(io.env.DATA_DIR ?? "./data", "demo-credentials.json");
        const templatePath = o.template ?? fileURLToPath(new URL("../../docs/examples/payouts.csv", import.meta.url));
        let users: { user_id: string }[];
        let template: string;
        try {
          users = (JSON.parse(readFileSync(credsPath, "utf8")) as { users?: { user_id: string }[] }).users ?? [];
          template = readFileSync(templatePath, "utf8");
        } catch (e) {
          throw new UsageError(`cannot read ${(e as { path?: string }).path ?? credsPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const missing: number[] = [];
        const filled = template.replace(/usr_DEMO(\d{4})/g, (m, n: string) => {
          const u = users[Number(n) - 1];
          if (!u) missing.push(Number(n));
          return u?.user_id ?? m;
        });
        if (missing.length) throw new UsageError(`${credsPath} has ${users.length} demo users; the example pays demo user ${Math.max(...missing)}: start the server with DEMO_USERS=${Math.max(...missing)} or more on a fresh DATA_DIR.`);
        io.out(filled);
      }),
    );
}
