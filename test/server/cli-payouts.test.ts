/**
 * `batchgate payouts` as a payer runs it: `node src/cli/bin.js payouts …` as a child process
 * against the real Node server (src/node.ts, a real SQLite file), stderr not a terminal. A few
 * hundred payout rows with sandbox declines and failures, an unknown recipient and a recipient
 * without a destination: plain progress lines, the summary, the failed-items file, money conserved
 * (read from the SQLite file itself), a re-run of the same file that pays nothing again, `status`,
 * `results --status failed --csv`, the failed-items file submitted again after a fix (only the
 * rail leg or the fixed item runs again), and a bad file that submits nothing. Last, the same CLI
 * on a pseudo-terminal (util-linux `script`): the progress line redrawn in place.
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPayoutsCsv } from "../../src/cli/payouts-csv.js";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";

const KEY = "cli-payouts-admin-key-0123456789abcdef";
let server: RunningServer;
let dataDir: string;
let creds: { clients: { client_id: number; client_secret: string }[]; users: { user_id: string }[] };
let db: Database.Database;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], client = 0, env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv: Record<string, string | undefined> = {
      ...process.env,
      BATCHGATE_URL: server.base,
      BATCHGATE_CLIENT_ID: String(creds.clients[client]!.client_id),
      BATCHGATE_CLIENT_SECRET: creds.clients[client]!.client_secret,
      ...env,
    };
    for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
    execFile(process.execPath, ["src/cli/bin.js", ...args], { env: childEnv as NodeJS.ProcessEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.base}${path}`, { method, headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await res.json()) as any;
}

async function v1(path: string, client = 0) {
  const c = creds.clients[client]!;
  const res = await fetch(`${server.base}${path}`, { headers: { authorization: `Basic ${btoa(`${c.client_id}:${c.client_secret}`)}` } });
  return (await res.json()) as any;
}

/** The ledger as stored: every wallet's balance and every system account, in minor units. */
function ledger() {
  const wallets = new Map((db.prepare("SELECT wallet_id, user_id, balance FROM wallets").all() as any[]).map((w) => [w.wallet_id as string, { user: w.user_id as string, balance: Number(w.balance) }]));
  const system = new Map((db.prepare("SELECT account, SUM(amount) AS s FROM ledger_entries WHERE account LIKE 'system:%' GROUP BY account").all() as any[]).map((r) => [r.account as string, Number(r.s)]));
  const sumWallets = (pred: (user: string) => boolean) => [...wallets.values()].filter((w) => pred(w.user)).reduce((s, w) => s + w.balance, 0);
  const sumSystem = (pred: (a: string) => boolean) => [...system.entries()].filter(([a]) => pred(a)).reduce((s, [, v]) => s + v, 0);
  return {
    treasury: sumWallets((u) => u === `cli_${creds.clients[0]!.client_id}`),
    users: sumWallets((u) => u.startsWith("usr_")),
    rails: sumSystem((a) => a.startsWith("system:rail:")),
    inFlight: sumSystem((a) => a === "system:payouts_in_flight"),
    total: sumWallets(() => true) + sumSystem(() => true),
    entries: (db.prepare("SELECT COUNT(*) AS n FROM ledger_entries").get() as any).n as number,
  };
}

const cents = (amount: string) => Math.round(Number(amount) * 100);

type Expect = "completed" | "pending" | "retained_in_wallet" | "failed";
interface Spec {
  user: string;
  amount: string;
  rail: string;
  ctx: string;
  destination: string;
  note: string;
  outcome: Expect;
  code: string;
}

let fresh: string;
const file = () => join(dataDir, "payroll.csv");

/** 300 rows over 30 demo users by i % 10, plus 3 for an unknown recipient and 2 for a user without destinations. */
function specs(): Spec[] {
  const out: Spec[] = [];
  const rails = ["ach", "card", "paypal", "venmo"];
  for (let i = 0; i < 300; i++) {
    const c = i % 10;
    const whole = 1 + (i % 7);
    const [rail, frac, outcome, code]: [string, string, Expect, string] =
      c <= 5 ? [rails[c % 4]!, String(c).padStart(2, "0"), "completed", ""]
      : c === 6 ? ["check", "06", "pending", ""]
      : c === 7 ? ["ach", "13", "retained_in_wallet", "RAIL_DECLINED"]
      : c === 8 ? ["paypal", "14", "retained_in_wallet", "RAIL_UNAVAILABLE"]
      : ["ach", "15", "pending", ""];
    const destination = i % 25 === 0 && rail === "ach" ? JSON.stringify({ routing_number: "021000021", account_number: `9${String(i).padStart(7, "0")}` }) : "";
    out.push({ user: creds.users[i % 30]!.user_id, amount: `${whole}.${frac}`, rail, ctx: `pay-2026-12-${String(i).padStart(4, "0")}`, destination, note: i % 3 === 0 ? `row ${i}, "quoted"` : "", outcome, code });
  }
  for (let k = 0; k < 3; k++) out.push({ user: `usr_NOSUCHUSER${k}`, amount: "9.00", rail: "ach", ctx: `pay-unknown-${k}`, destination: "", note: "", outcome: "failed", code: "RECIPIENT_NOT_FOUND" });
  for (let k = 0; k < 2; k++) out.push({ user: fresh, amount: `2${k}.00`, rail: "ach", ctx: `pay-fresh-${k}`, destination: "", note: "new hire", outcome: "failed", code: "INVALID_DESTINATION" });
  return out;
}

const csvCell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const toCsv = (rows: Spec[]) => `user_id,amount,currency,rail,customer_transaction_id,destination,metadata.note\r\n${rows.map((s) => [s.user, s.amount, "USD", s.rail, s.ctx, s.destination, s.note].map(csvCell).join(",")).join("\r\n")}\r\n`;

const sum = (rows: Spec[]) => rows.reduce((s, r) => s + cents(r.amount), 0);
const money2 = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;

beforeAll(async () => {
  dataDir = tempDir("cli-payouts-");
  // Small slices and a modest per-client rate: a few hundred items take a few seconds, so --wait polls several times.
  server = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "30", ADMIN_API_KEY: KEY, ASYNC_BATCH_SLICE: "20", ASYNC_BATCH_RATE: "150", SQLITE_SYNCHRONOUS: "NORMAL" });
  creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
  db = new Database(join(dataDir, "batchgate.sqlite"), { readonly: true });
  fresh = (await admin("POST", "/admin/v1/users", { email: "new.hire@example.com", first_name: "New", last_name: "Hire" })).user_id;
}, 60_000);

afterAll(async () => {
  db?.close();
  await server?.stop();
});

describe("batchgate payouts: a mass payout end to end", () => {
  let batchId: string;
  let rows: Spec[];
  let before: ReturnType<typeof ledger>;

  it("submit --wait: plain progress lines, the summary, the failed-items file, money conserved", async () => {
    rows = specs();
    writeFileSync(file(), toCsv(rows));
    before = ledger();
    expect(before.total).toBe(0);

    const r = await cli(["payouts", "submit", file(), "--wait", "--poll-ms", "100", "--customer-batch-id", "payroll-2026-12"]);
    expect(r.code, r.stderr).toBe(4);
    batchId = /batch (batch_[A-Za-z0-9]+) submitted: 305 payouts, customer_batch_id payroll-2026-12/.exec(r.stderr)![1]!;

    // Not a terminal: plain lines, no carriage return or escape; done counts increase to the total.
    expect(r.stderr).not.toMatch(/[\r\x1b]/);
    const progress = [...r.stderr.matchAll(/^\[[#.]{20}\] (\d+)\/305 (\d+)% · (\d+) ok · (\d+) failed · (?:\d+|–) items\/s · ETA \S+$/gm)];
    expect(progress.length).toBeGreaterThanOrEqual(2);
    const done = progress.map((m) => Number(m[1]));
    for (let i = 1; i < done.length; i++) expect(done[i]).toBeGreaterThan(done[i - 1]!);
    for (const m of progress) expect(Number(m[3]) + Number(m[4])).toBe(Number(m[1]));
    expect(progress.at(-1)![0]).toMatch(/^\[#{20}\] 305\/305 100% .* ETA 0s$/);

    const by = (o: Expect) => rows.filter((s) => s.outcome === o);
    const [completed, pending, retained, failed] = [by("completed"), by("pending"), by("retained_in_wallet"), by("failed")];
    expect(progress.at(-1)![0]).toContain(`305/305 100% · ${completed.length + pending.length} ok · ${retained.length + failed.length} failed`);

    // The summary: counts and totals by outcome.
    expect(r.stdout).toContain(`batch ${batchId} completed_with_failures · customer_batch_id payroll-2026-12 · 305 items of this file`);
    for (const [name, set] of [["completed", completed], ["pending", pending], ["retained_in_wallet", retained], ["failed", failed]] as const) {
      expect(r.stdout).toMatch(new RegExp(`│ ${name}\\s+│ USD\\s+│ ${set.length}\\s+│ ${money2(sum(set)).replace(".", "\\.")}\\s+│`));
    }
    expect(r.stdout).toMatch(/│ RAIL_DECLINED\s+│ 30\s+│/);
    expect(r.stdout).toMatch(/│ RAIL_UNAVAILABLE\s+│ 30\s+│/);
    expect(r.stdout).toMatch(/│ RECIPIENT_NOT_FOUND\s+│ 3\s+│/);
    expect(r.stdout).toMatch(/│ INVALID_DESTINATION\s+│ 2\s+│/);
    const failedPath = join(dataDir, "payroll.failed.csv");
    expect(r.stdout).toContain(`65 failed items written to ${failedPath}`);

    // The failed-items file: the original cells, then status, error and batch columns.
    const written = parse(readFileSync(failedPath), { columns: true }) as Record<string, string>[];
    const unpaid = [...retained, ...failed];
    expect(written.map((w) => w.customer_transaction_id).sort()).toEqual(unpaid.map((s) => s.ctx).sort());
    for (const w of written) {
      const s = rows.find((x) => x.ctx === w.customer_transaction_id)!;
      expect(w).toMatchObject({ user_id: s.user, amount: s.amount, currency: "USD", rail: s.rail, destination: s.destination, "metadata.note": s.note, status: s.outcome, error_code: s.code, batch_id: batchId });
      expect(w.error_message!.length).toBeGreaterThan(0);
      expect(Number(w.batch_index)).toBe(rows.indexOf(s));
    }

    // Money: conserved, and where the outcomes say.
    const after = ledger();
    expect(after.total).toBe(0);
    expect(before.treasury - after.treasury).toBe(sum([...completed, ...pending, ...retained]));
    expect(after.rails - before.rails).toBe(sum(completed));
    expect(after.inFlight - before.inFlight).toBe(sum(pending));
    expect(after.users - before.users).toBe(sum(retained));
  }, 60_000);

  it("running the same file again creates no second batch and pays nothing again", async () => {
    const before2 = ledger();
    const listed = await v1("/v1/batches");
    const r = await cli(["payouts", "submit", file()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`batch ${batchId} was already submitted from this file (status completed_with_failures): nothing new submitted`);
    expect((await v1("/v1/batches")).data.map((b: any) => b.id)).toEqual(listed.data.map((b: any) => b.id));
    expect(listed.data).toHaveLength(1);
    const after = ledger();
    expect(after.entries).toBe(before2.entries);
    expect(after.treasury).toBe(before2.treasury);
  });

  it("status and results --status failed --csv", async () => {
    const s = await cli(["payouts", "status", batchId]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/status\s+│ completed_with_failures/);
    expect(s.stdout).toMatch(/total_count\s+│ 305/);
    expect(s.stdout).toMatch(/failed_count\s+│ 65/);
    const j = await cli(["--json", "payouts", "status", batchId]);
    expect(JSON.parse(j.stdout)).toMatchObject({ id: batchId, status: "completed_with_failures", customer_batch_id: "payroll-2026-12", total_count: 305, succeeded_count: 240, failed_count: 65, pending_count: 0 });

    const csv = await cli(["payouts", "results", batchId, "--status", "failed", "--csv"]);
    expect(csv.code, csv.stderr).toBe(0);
    const read = readPayoutsCsv(csv.stdout);
    expect(read.problems).toEqual([]);
    expect(read.retryOf).toBe(batchId);
    expect(read.rows).toHaveLength(65);
    const declined = read.rows.find((r) => r.item.customer_transaction_id === "pay-2026-12-0007")!;
    expect(declined.cells).toMatchObject({ status: "retained_in_wallet", error_code: "RAIL_DECLINED", batch_index: "7", idempotency_key: "ctx:pay-2026-12-0007" });
    expect(declined.item.amount).toBe(rows[7]!.amount);

    const table = await cli(["payouts", "results", batchId, "--status", "failed", "--limit", "3"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/│ 7\s+│ pay-2026-12-0007\s+│ usr_\w+\s+│ 1\.13\s+│ USD\s+│ ach\s+│ failed\s+│ retained_in_wallet\s+│ RAIL_DECLINED/);
    expect(table.stdout).toContain("3 items");
  });

  it("the failed-items file, submitted again after a fix, retries those items: the fixed ones pay, nothing pays twice", async () => {
    const failedPath = join(dataDir, "payroll.failed.csv");
    // A changed row cannot be retried: nothing is sent.
    const text = readFileSync(failedPath, "utf8");
    const changedPath = join(dataDir, "changed.csv");
    writeFileSync(changedPath, text.replace(/,1\.13,USD,ach,pay-2026-12-0007,/, ",1.12,USD,ach,pay-2026-12-0007,"));
    const entriesBefore = ledger().entries;
    const changed = await cli(["payouts", "submit", changedPath, "--wait", "--poll-ms", "100"]);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/^line \d+: amount: differs from item 7 of batch_\w+ \("1\.13"\)/m);
    expect(ledger().entries).toBe(entriesBefore);

    // The fix: the new hire gets a destination on ach.
    expect((await admin("PUT", `/admin/v1/users/${fresh}/destinations/ach`, { routing_number: "021000021", account_number: "55550000" })).rail).toBe("ach");
    const before2 = ledger();
    const r = await cli(["payouts", "submit", failedPath, "--wait", "--poll-ms", "100"]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`retrying 65 of 65 items of batch ${batchId} (RETRYING: 65)`);
    expect(r.stdout).toMatch(/│ completed\s+│ USD\s+│ 2\s+│ 41\.00\s+│/);
    expect(r.stdout).toMatch(/│ retained_in_wallet\s+│ USD\s+│ 60\s+│/);
    expect(r.stdout).toMatch(/│ failed\s+│ USD\s+│ 3\s+│ 27\.00\s+│/);
    const again = parse(readFileSync(join(dataDir, "payroll.failed.failed.csv")), { columns: true }) as Record<string, string>[];
    expect(again).toHaveLength(63);
    expect(again.some((w) => w.customer_transaction_id!.startsWith("pay-fresh-"))).toBe(false);

    // Money: only the new hire's items left the treasury; the retained money was not credited again.
    const after = ledger();
    expect(after.total).toBe(0);
    expect(before2.treasury - after.treasury).toBe(2000 + 2100);
    expect(after.rails - before2.rails).toBe(2000 + 2100);
    expect(after.users - before2.users).toBe(0);
    const batch = await v1(`/v1/batches/${batchId}`);
    expect(batch).toMatchObject({ status: "completed_with_failures", succeeded_count: 242, failed_count: 63 });
  }, 60_000);
});

describe("batchgate payouts: refusals", () => {
  it("a bad file reports every bad row by line and submits nothing", async () => {
    const u = creds.users[0]!.user_id;
    const path = join(dataDir, "bad.csv");
    writeFileSync(path, `user_id,amount,currency,rail,customer_transaction_id,colour\n${u},10.001,USD,ach,bad-1,red\n${u},5.00,usd,ach,bad-2,\n${u},5.00,USD,ach,bad-1,\nnobody,5.00,USD,wire,bad-4,\n`);
    const before = ledger();
    const listed = (await v1("/v1/batches", 1)).data.length;
    const r = await cli(["payouts", "submit", path, "--wait"], 1);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      `error: ${path}: 6 problems; nothing was submitted`,
      "line 1: colour: unknown column (known: user_id, amount, currency, rail, customer_transaction_id, destination, idempotency_key, reference_id, metadata.<key>; status, error_code, error_message are ignored)",
      "line 2: amount: has more than 2 decimal places for USD",
      "line 3: currency: must be an ISO 4217 code such as USD",
      "line 4: customer_transaction_id: bad-1 is also on line 2",
      "line 5: user_id: must be a user id (usr_ and up to 60 letters or digits)",
      "line 5: rail: must be one of ach, card, paypal, venmo, check",
    ]);
    expect(r.stdout).toBe("");
    expect((await v1("/v1/batches", 1)).data.length).toBe(listed);
    expect(ledger().entries).toBe(before.entries);
  });

  it("a customer_transaction_id another batch used is refused by the gateway, told by its line; wrong credentials exit 1, none exit 2", async () => {
    const u = creds.users[1]!.user_id;
    const path = join(dataDir, "reuse.csv");
    writeFileSync(path, `user_id,amount,currency,rail,customer_transaction_id\n${u},3.00,USD,card,new-1\n${u},3.00,USD,card,pay-2026-12-0001\n`);
    const before = ledger();
    const r = await cli(["payouts", "submit", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: (customer_transaction_id_in_use|item_idempotency_key_in_use): nothing was submitted\nline 3: (customer_transaction_id|idempotency_key): .*already used by item 1 of batch batch_\w+/);
    expect(ledger().entries).toBe(before.entries);

    const wrong = await cli(["payouts", "status", "batch_01ABC"], 0, { BATCHGATE_CLIENT_SECRET: "cs_wrong" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: invalid_client: /);
    expect(wrong.stderr).not.toContain("cs_wrong");
    const none = await cli(["payouts", "status", "batch_01ABC"], 0, { BATCHGATE_CLIENT_ID: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("BATCHGATE_CLIENT_ID is not set");
  });
});

describe("batchgate payouts example-csv", () => {
  it("fills in the demo users; the example pays as documented", async () => {
    const ex = await cli(["payouts", "example-csv", "--credentials", join(dataDir, "demo-credentials.json")], 1);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).not.toContain("usr_DEMO");
    expect(ex.stdout).toContain(creds.users[0]!.user_id);
    const path = join(dataDir, "example.csv");
    writeFileSync(path, ex.stdout);
    const r = await cli(["payouts", "submit", path, "--wait", "--poll-ms", "100"], 1);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toMatch(/│ completed\s+│ USD\s+│ 7\s+│ 1582\.74\s+│/);
    expect(r.stdout).toMatch(/│ pending\s+│ USD\s+│ 2\s+│ 375\.15\s+│/);
    expect(r.stdout).toMatch(/│ retained_in_wallet\s+│ USD\s+│ 2\s+│ 95\.27\s+│/);
    expect(r.stdout).toMatch(/│ failed\s+│ USD\s+│ 1\s+│ 10\.00\s+│/);
  }, 60_000);
});

describe("batchgate payouts on a terminal", () => {
  it("redraws one progress line in place on a pseudo-terminal, ends it on its own line, then prints the summary", async () => {
    // util-linux `script` runs the CLI on a pseudo-terminal (stdout and stderr both a TTY) and
    // copies what it writes to ours: what a person at a terminal sees, escape codes included.
    const rows = Array.from({ length: 120 }, (_, i) => `${creds.users[i % 30]!.user_id},0.${String(1 + (i % 9)).padStart(2, "0")},USD,ach,tty-2026-12-${i},,`);
    const csv = join(dataDir, "tty.csv");
    writeFileSync(csv, `user_id,amount,currency,rail,customer_transaction_id,destination,metadata.note\n${rows.join("\n")}\n`);
    const c = creds.clients[0]!;
    const command = `${process.execPath} src/cli/bin.js payouts submit ${csv} --wait --poll-ms 50`;
    const r = await new Promise<Run>((resolve) => {
      execFile(
        "script",
        ["-qfec", command, "/dev/null"],
        { env: { ...process.env, BATCHGATE_URL: server.base, BATCHGATE_CLIENT_ID: String(c.client_id), BATCHGATE_CLIENT_SECRET: c.client_secret }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = r.stdout;
    // Redrawn in place: each frame starts with a carriage return and a clear-line, no newline between frames.
    const frames = [...out.matchAll(/\r\x1b\[2K(\[[#.]{20}\] (\d+)\/120 [^\r\n]*)/g)];
    expect(frames.length).toBeGreaterThanOrEqual(2);
    const done = frames.map((m) => Number(m[2]));
    for (let i = 1; i < done.length; i++) expect(done[i]).toBeGreaterThanOrEqual(done[i - 1]!);
    expect(frames.at(-1)![1]).toMatch(/^\[#{20}\] 120\/120 100% · 120 ok · 0 failed/);
    // The last frame ends with a line break before the summary starts.
    const last = out.lastIndexOf("\r\x1b[2K");
    const after = out.slice(last).replace(/^\r\x1b\[2K[^\r\n]*/, "");
    expect(after).toMatch(/^\r?\n(?:\S[^\r\n]*\r?\n)*batch batch_[A-Za-z0-9]+ completed · [^\r\n]*120 items of this file/);
  }, 60_000);
});
