/**
 * The payouts CLI's own logic: reading and checking a payouts CSV (every bad cell of every row,
 * with its line; BOM, CRLF, quoting, multi-line cells), the failed-items file and its round trip
 * back into `submit`, the summary's money sums, and the progress renderer on a terminal (redrawn
 * line) and off one (plain lines). The gateway side is test/server/cli-payouts.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { defaultFailedPath, summarize } from "../../src/cli/payouts.js";
import {
  differencesFromStored,
  failedRowsCsv,
  formatProblems,
  type ItemResult,
  readPayoutsCsv,
  resultsCsv,
} from "../../src/cli/payouts-csv.js";
import { progressLine, ProgressView } from "../../src/cli/progress.js";

const HEADER = "user_id,amount,currency,rail,customer_transaction_id,destination,metadata.note";
const U1 = "usr_01M97S8DDXB5Y05A0WVJM4440D";
const U2 = "usr_01M97S8DEMSCEMYP5MGN4J8BFZ";

describe("payouts CSV: reading good files", () => {
  it("reads a BOM and CRLF file with quoted cells, keeps line numbers across a multi-line cell, builds the items", () => {
    const text =
      `\uFEFF${HEADER}\r\n` +
      `${U1},10.5,USD,ach,inv-1,"{""routing_number"":""021000021"",""account_number"":""12345678""}","rent, December"\r\n` +
      `\r\n` +
      `${U2},7,USD,check,inv-2,,"two\r\nlines"\r\n` +
      `${U1},3.00,JPY,paypal,inv-3,,\r\n` +
      `,,,,,,\r\n`;
    const f = readPayoutsCsv(text);
    expect(f.problems).toEqual([{ line: 6, column: "amount", message: "has more than 0 decimal places for JPY" }]);
    const ok = readPayoutsCsv(text.replace("3.00,JPY", "300,JPY"));
    expect(ok.problems).toEqual([]);
    expect(ok.retryOf).toBeNull();
    expect(ok.rows.map((r) => r.line)).toEqual([2, 4, 6]);
    expect(ok.rows[0]!.item).toEqual({
      type: "payout",
      user_id: U1,
      amount: "10.50",
      currency: "USD",
      rail: "ach",
      customer_transaction_id: "inv-1",
      idempotency_key: "ctx:inv-1",
      destination: { routing_number: "021000021", account_number: "12345678" },
      metadata: { note: "rent, December" },
    });
    expect(ok.rows[1]!.item).toMatchObject({ amount: "7.00", rail: "check", metadata: { note: "two\r\nlines" } });
    expect(ok.rows[1]!.item.destination).toBeUndefined();
    expect(ok.rows[2]!.item).toMatchObject({ amount: "300", currency: "JPY" });
    expect(ok.rows[2]!.item.metadata).toBeUndefined();
    // The file's hash names its batch: the same bytes, the same hash; one byte changed, another.
    expect(ok.sha256).toBe(readPayoutsCsv(text.replace("3.00,JPY", "300,JPY")).sha256);
    expect(ok.sha256).not.toBe(f.sha256);
  });

  it("takes an explicit idempotency_key and reference_id", () => {
    const f = readPayoutsCsv(`user_id,amount,currency,rail,customer_transaction_id,idempotency_key,reference_id\n${U1},1.00,USD,card,c-1,my-key-1,row-a\n`);
    expect(f.problems).toEqual([]);
    expect(f.rows[0]!.item).toMatchObject({ idempotency_key: "my-key-1", reference_id: "row-a" });
  });

  it("the example file in docs/examples is a valid payouts file", () => {
    const f = readPayoutsCsv(readFileSync("docs/examples/payouts.csv"));
    expect(f.problems).toEqual([]);
    expect(f.rows.length).toBeGreaterThanOrEqual(10);
  });
});

describe("payouts CSV: every problem, with its line", () => {
  it("reports every bad cell of every row in one run", () => {
    const rows = [
      `${U1},10.001,USD,ach,a-1,,`, // 2: decimals
      `${U1},0,USD,ach,a-2,,`, // 3: zero
      `${U1},-5,usd,wire,a-3,,`, // 4: sign, currency case, rail
      `bob,1e3,XYZ,ach,a-4,,`, // 5: user id, amount, unsupported currency
      `${U2},5.00,USD,ach,a-1,,`, // 6: duplicate ctx
      `${U2},5.00,USD,ach,,,`, // 7: missing ctx
      `${U2},5.00,USD,ach,a-7,{not json},`, // 8: destination not JSON
      `${U2},5.00,USD,ach,a-8,"{""routing_number"":""12""}",`, // 9: destination shape
      `${U2},5.00,USD,venmo,a-9,"{""handle"":""@ok"",""extra"":1}",`, // 10: unknown destination field
      `${U2},5.00,USD`, // 11: too few fields
      `${U2},10000000001.00,USD,ach,a-11,,`, // 12: too large
      `,,,,a-12,,`, // 13: required cells empty
      `${U2},0.00,EURO,ach,a-13,,`, // 14: zero with a bad currency
    ];
    const f = readPayoutsCsv(`${HEADER}\n${rows.join("\n")}\n`);
    expect(f.rows).toEqual([]);
    expect(formatProblems(f.problems).split("\n")).toEqual([
      "line 2: amount: has more than 2 decimal places for USD",
      "line 3: amount: must be greater than zero",
      "line 4: currency: must be an ISO 4217 code such as USD",
      'line 4: amount: must be a positive decimal string such as "10.00"',
      "line 4: rail: must be one of ach, card, paypal, venmo, check",
      "line 5: user_id: must be a user id (usr_ and up to 60 letters or digits)",
      "line 5: currency: is not a supported currency",
      'line 5: amount: must be a positive decimal string such as "10.00"',
      "line 6: customer_transaction_id: a-1 is also on line 2",
      "line 7: customer_transaction_id: is required (it names the payout: a re-run of the file never pays it twice)",
      'line 8: destination: must be a JSON object, e.g. {"routing_number":"021000021","account_number":"12345678"} (blank: the recipient\'s default)',
      "line 9: destination: ach: routing_number: must be 9 digits",
      'line 10: destination: venmo: unknown field "extra"',
      "line 11: has 3 fields, the header has 7",
      "line 12: amount: is larger than the maximum amount",
      "line 13: user_id: is required",
      "line 13: currency: is required",
      "line 13: amount: is required",
      "line 13: rail: is required",
      "line 14: currency: must be an ISO 4217 code such as USD",
      "line 14: amount: must be greater than zero",
    ]);
  });

  it("reports header problems: unknown, missing and repeated columns", () => {
    const f = readPayoutsCsv(`user_id,amount,amount,rail,customer_txn,metadata.\n${U1},1.00,1.00,ach,x,\n`);
    const lines = formatProblems(f.problems).split("\n");
    expect(lines).toContain("line 1: amount: the column appears twice");
    expect(lines).toContain("line 1: customer_txn: unknown column (known: user_id, amount, currency, rail, customer_transaction_id, destination, idempotency_key, reference_id, metadata.<key>; status, error_code, error_message are ignored)");
    expect(lines).toContain("line 1: metadata.: a metadata column needs a key after metadata.");
    expect(lines).toContain("line 1: currency: required column missing");
    expect(lines).toContain("line 1: customer_transaction_id: required column missing");
    expect(f.rows).toEqual([]);
  });

  it("refuses an empty file, a header alone, a CSV syntax error and too many rows", () => {
    expect(formatProblems(readPayoutsCsv("").problems)).toMatch(/^line 1: the file is empty/);
    expect(formatProblems(readPayoutsCsv("\uFEFF\r\n\r\n").problems)).toMatch(/^line 1: the file is empty/);
    expect(formatProblems(readPayoutsCsv(`${HEADER}\r\n`).problems)).toBe("line 1: the file has a header and no payout rows");
    expect(formatProblems(readPayoutsCsv(`${HEADER}\n${U1},1.00,USD,ach,x,"{oops\n`).problems)).toMatch(/^line 2: not readable as CSV: Quote Not Closed/);
    const many = Array.from({ length: 4 }, (_, i) => `${U1},1.00,USD,ach,m-${i},,`).join("\n");
    const f = readPayoutsCsv(`${HEADER}\n${many}\n`, { maxRows: 3 });
    expect(formatProblems(f.problems)).toBe("line 5: 4 rows: one batch takes at most 3; split the file");
  });
});

describe("payouts CSV: the failed-items file goes back into submit", () => {
  const file = readPayoutsCsv(`${HEADER}\n${U1},40.13,USD,ach,f-1,,"note, with ""quotes"""\n${U2},10.00,USD,check,f-2,,\n`);
  const written = failedRowsCsv(file.header, [
    { cells: file.rows[0]!.cells, failure: { status: "retained_in_wallet", errorCode: "RAIL_DECLINED", errorMessage: "The rail declined, sorry", batchId: "batch_01ABC", index: 7 } },
    { cells: file.rows[1]!.cells, failure: { status: "failed", errorCode: "RECIPIENT_NOT_FOUND", errorMessage: "no such user", batchId: "batch_01ABC", index: 9 } },
  ]);

  it("keeps the original columns and cells, quoted, then status, error and batch columns", () => {
    expect(written.split("\n")[0]).toBe(`${HEADER},status,error_code,error_message,batch_id,batch_index`);
    expect(written.split("\n")[1]).toBe(`${U1},40.13,USD,ach,f-1,,"note, with ""quotes""",retained_in_wallet,RAIL_DECLINED,"The rail declined, sorry",batch_01ABC,7`);
  });

  it("reads back as retries of those items: the same items, the result columns ignored", () => {
    const again = readPayoutsCsv(written);
    expect(again.problems).toEqual([]);
    expect(again.retryOf).toBe("batch_01ABC");
    expect(again.rows.map((r) => r.origin)).toEqual([
      { batchId: "batch_01ABC", index: 7 },
      { batchId: "batch_01ABC", index: 9 },
    ]);
    expect(again.rows.map((r) => r.item)).toEqual(file.rows.map((r) => r.item));
    // Written again from a retry's rows, the columns do not repeat.
    const twice = failedRowsCsv(again.header, [{ cells: again.rows[0]!.cells, failure: { status: "failed", errorCode: "X", errorMessage: "", batchId: "batch_01ABC", index: 7 } }]);
    expect(twice.split("\n")[0]).toBe(`${HEADER},status,error_code,error_message,batch_id,batch_index`);
  });

  it("refuses a failed-items file mixing batches, missing the batch of a row, or naming an item twice", () => {
    const lines = written.trim().split("\n");
    const mixed = readPayoutsCsv([lines[0], lines[1], lines[2]!.replace(/batch_01ABC,9$/, "batch_02XYZ,9")].join("\n"));
    expect(formatProblems(mixed.problems)).toBe("line 3: batch_id: a failed-items file holds items of one batch (the file's first row has batch_01ABC)");
    const blank = readPayoutsCsv([lines[0], lines[1], lines[2]!.replace(/batch_01ABC,9$/, ",")].join("\n"));
    expect(formatProblems(blank.problems)).toMatch(/^line 3: batch_id: is required in a failed-items file[\s\S]*line 3: batch_index: must be an item index/);
    const twice = readPayoutsCsv([lines[0], lines[1], lines[2]!.replace(/,9$/, ",7")].join("\n"));
    expect(formatProblems(twice.problems)).toBe("line 3: batch_index: item 7 is also on line 2");
  });

  it("tells where a row differs from the stored item (a retry cannot pay a changed row)", () => {
    const again = readPayoutsCsv(written);
    const stored: ItemResult = {
      index: 7,
      user_id: U1,
      amount: "40.13",
      currency: "USD",
      rail: "ach",
      customer_transaction_id: "f-1",
      reference_id: null,
      idempotency_key: "ctx:f-1",
      status: "failed",
      request: { parameters: { destination: null } },
    };
    expect(differencesFromStored(again.rows[0]!, stored)).toEqual([]);
    expect(differencesFromStored(again.rows[0]!, { ...stored, amount: "40.12", request: { parameters: { destination: { routing_number: "021000021", account_number: "1234" } } } })).toEqual([
      { column: "amount", stored: "40.12" },
      { column: "destination", stored: '{"account_number":"1234","routing_number":"021000021"}' },
    ]);
  });

  it("results in the CSV shape read back as a valid failed-items file", () => {
    const results: ItemResult[] = [
      {
        index: 3,
        user_id: U2,
        amount: "5.14",
        currency: "USD",
        rail: "ach",
        customer_transaction_id: "r-3",
        reference_id: null,
        idempotency_key: "ctx:r-3",
        status: "failed",
        response: { outcome: "retained_in_wallet", error_code: "RAIL_UNAVAILABLE", error_message: "down, again" },
        request: { parameters: { destination: { routing_number: "021000021", account_number: "12345678" } } },
        metadata: { note: "a, b", n: 3 },
      },
    ];
    const csv = resultsCsv("batch_01ABC", results);
    const f = readPayoutsCsv(csv);
    expect(f.problems).toEqual([]);
    expect(f.retryOf).toBe("batch_01ABC");
    expect(f.rows[0]!.item).toMatchObject({ user_id: U2, amount: "5.14", destination: { routing_number: "021000021", account_number: "12345678" }, metadata: { note: "a, b", n: "3" } });
    expect(f.rows[0]!.cells).toMatchObject({ status: "retained_in_wallet", error_code: "RAIL_UNAVAILABLE", error_message: "down, again" });
  });

  it("names the default failed-items file beside the input", () => {
    expect(defaultFailedPath("/x/payouts.csv")).toBe("/x/payouts.failed.csv");
    expect(defaultFailedPath("payouts.failed.csv")).toBe("payouts.failed.failed.csv");
    expect(defaultFailedPath("data/pay")).toBe("data/pay.failed.csv");
  });
});

describe("payouts summary", () => {
  it("counts and sums amounts by outcome and currency in minor units", () => {
    const r = (index: number, amount: string, currency: string, status: string, outcome: string | null, code: string | null = null): ItemResult => ({
      index,
      amount,
      currency,
      status,
      reference_id: null,
      idempotency_key: null,
      response: outcome ? { outcome, error_code: code } : null,
    });
    const s = summarize([
      r(0, "0.10", "USD", "succeeded", "completed"),
      r(1, "0.20", "USD", "succeeded", "completed"),
      r(2, "500", "JPY", "succeeded", "completed"),
      r(3, "1.13", "USD", "failed", "retained_in_wallet", "RAIL_DECLINED"),
      r(4, "2.00", "USD", "failed", "failed", "RECIPIENT_NOT_FOUND"),
      r(5, "3.15", "USD", "succeeded", "pending"),
      r(6, "4.00", "USD", "cancelled", null),
      r(7, "1.14", "USD", "failed", "retained_in_wallet", "RAIL_DECLINED"),
    ]);
    expect(s.outcomes).toEqual([
      { outcome: "completed", currency: "JPY", items: 1, amount: "500" },
      { outcome: "completed", currency: "USD", items: 2, amount: "0.30" },
      { outcome: "pending", currency: "USD", items: 1, amount: "3.15" },
      { outcome: "retained_in_wallet", currency: "USD", items: 2, amount: "2.27" },
      { outcome: "failed", currency: "USD", items: 1, amount: "2.00" },
      { outcome: "cancelled", currency: "USD", items: 1, amount: "4.00" },
    ]);
    expect(s.error_codes).toEqual([
      { error_code: "RAIL_DECLINED", items: 2 },
      { error_code: "RECIPIENT_NOT_FOUND", items: 1 },
    ]);
  });
});

describe("progress", () => {
  const counts = (total: number, pending: number, ok: number, failed: number) => ({ total_count: total, pending_count: pending, succeeded_count: ok, failed_count: failed, cancelled_count: 0 });

  it("formats one line: bar, done/total, percent, ok, failed, rate, ETA", () => {
    expect(progressLine(counts(5000, 2500, 2480, 20), 830)).toBe("[##########..........] 2,500/5,000 50% · 2,480 ok · 20 failed · 830 items/s · ETA 4s");
    expect(progressLine(counts(5000, 5000, 0, 0), null)).toBe("[....................] 0/5,000 0% · 0 ok · 0 failed · – items/s · ETA ?");
    expect(progressLine(counts(300, 0, 290, 10), 120.4)).toBe("[####################] 300/300 100% · 290 ok · 10 failed · 120 items/s · ETA 0s");
    expect(progressLine(counts(100_000, 99_000, 1000, 0), 10)).toContain("ETA 2h45m");
  });

  it("on a terminal, redraws one line in place (carriage return, clear line) and ends it with a newline", () => {
    const writes: string[] = [];
    let t = 0;
    const view = new ProgressView({ isTTY: true, write: (s) => writes.push(s) }, () => t, { at: 0, done: 0 });
    t = 1000;
    view.update(counts(1000, 600, 390, 10));
    t = 2000;
    view.update(counts(1000, 600, 390, 10));
    t = 3000;
    view.update(counts(1000, 0, 980, 20));
    view.finish();
    expect(writes).toEqual([
      "\r\x1b[2K[########............] 400/1,000 40% · 390 ok · 10 failed · 400 items/s · ETA 2s",
      "\r\x1b[2K[########............] 400/1,000 40% · 390 ok · 10 failed · 200 items/s · ETA 3s",
      "\r\x1b[2K[####################] 1,000/1,000 100% · 980 ok · 20 failed · 333 items/s · ETA 0s",
      "\n",
    ]);
  });

  it("off a terminal, prints a plain line each time the counts change, never a control character", () => {
    const writes: string[] = [];
    let t = 0;
    const view = new ProgressView({ isTTY: false, write: (s) => writes.push(s) }, () => t);
    view.update(counts(10, 10, 0, 0));
    t = 500;
    view.update(counts(10, 10, 0, 0));
    t = 1000;
    view.update(counts(10, 5, 4, 1));
    t = 2000;
    view.update(counts(10, 0, 8, 2));
    view.finish();
    expect(writes).toEqual([
      "[....................] 0/10 0% · 0 ok · 0 failed · – items/s · ETA ?\n",
      "[##########..........] 5/10 50% · 4 ok · 1 failed · 5 items/s · ETA 1s\n",
      "[####################] 10/10 100% · 8 ok · 2 failed · 5 items/s · ETA 0s\n",
    ]);
    expect(writes.join("")).not.toMatch(/[\r\x1b]/);
  });
});

describe("payouts commands without a gateway", () => {
  const dir = mkdtempSync(join(tmpdir(), "cli-payouts-"));
  const io = (env: Record<string, string>) => {
    const out: string[] = [];
    const err: string[] = [];
    const calls: string[] = [];
    return {
      out,
      err,
      calls,
      io: {
        out: (s: string) => out.push(s),
        err: (s: string) => err.push(s),
        env: { BATCHGATE_URL: "http://127.0.0.1:9", ...env },
        fetch: (async (url: string) => {
          calls.push(String(url));
          throw new Error("no gateway here");
        }) as unknown as typeof fetch,
      },
    };
  };
  const creds = { BATCHGATE_CLIENT_ID: "100001", BATCHGATE_CLIENT_SECRET: "cs_secret_never_printed" };

  it("exits 2 without credentials, naming the variables", async () => {
    const t = io({ BATCHGATE_CLIENT_SECRET: "cs_x" });
    expect(await run(["node", "batchgate", "payouts", "status", "batch_01ABC"], t.io)).toBe(2);
    expect(t.err.join("")).toContain("BATCHGATE_CLIENT_ID is not set");
    const u = io({ BATCHGATE_CLIENT_ID: "100001" });
    expect(await run(["node", "batchgate", "payouts", "status", "batch_01ABC"], u.io)).toBe(2);
    expect(u.err.join("")).toContain("BATCHGATE_CLIENT_SECRET is not set");
    expect(t.calls.length + u.calls.length).toBe(0);
  });

  it("exits 1 on a bad file with every problem by line, sending nothing and never echoing the secret", async () => {
    const path = join(dir, "bad.csv");
    writeFileSync(path, `${HEADER}\n${U1},1.001,USD,ach,b-1,,\n${U1},2.00,USD,fax,b-2,,\n`);
    const t = io(creds);
    expect(await run(["node", "batchgate", "payouts", "submit", path, "--wait"], t.io)).toBe(1);
    expect(t.err.join("\n")).toBe(`error: ${path}: 2 problems; nothing was submitted\nline 2: amount: has more than 2 decimal places for USD\nline 3: rail: must be one of ach, card, paypal, venmo, check`);
    expect(t.calls).toEqual([]);
    expect([...t.out, ...t.err].join("")).not.toContain(creds.BATCHGATE_CLIENT_SECRET);
  });

  it("exits 2 for a file it cannot read and for bad options", async () => {
    const t = io(creds);
    expect(await run(["node", "batchgate", "payouts", "submit", join(dir, "missing.csv")], t.io)).toBe(2);
    expect(t.err.join("")).toContain("cannot read");
    expect(await run(["node", "batchgate", "payouts", "submit", join(dir, "missing.csv"), "--poll-ms", "0"], io(creds).io)).toBe(2);
    expect(await run(["node", "batchgate", "payouts", "status", "not-a-batch"], io(creds).io)).toBe(2);
    expect(await run(["node", "batchgate", "payouts", "results", "batch_01ABC", "--status", "weird"], io(creds).io)).toBe(2);
    expect(t.calls).toEqual([]);
  });

  it("exits 3 when the gateway cannot be reached", async () => {
    const t = io(creds);
    expect(await run(["node", "batchgate", "payouts", "status", "batch_01ABC"], t.io)).toBe(3);
    expect(t.calls).toEqual(["http://127.0.0.1:9/v1/batches/batch_01ABC"]);
  });
});

describe("payouts submit --wait across a gateway outage", () => {
  it("keeps polling through failed polls (503, refused) and ends with the batch's summary", async () => {
    const { createServer } = await import("node:http");
    const batch = (status: string, pending: number) => ({ id: "batch_01OUTAGE", object: "batch", status, customer_batch_id: "cbt_x", label: "x", idempotency_key: "csv:x", total_count: 1, succeeded_count: 1 - pending, failed_count: 0, cancelled_count: 0, pending_count: pending, percent_done: pending ? 0 : 100 });
    // A stand-in gateway on loopback: the batch answers 503 between its states.
    const answers = [() => [503, { error: { code: "store_unavailable", message: "down", request_id: "req_1" } }], () => [200, batch("processing", 1)], () => [503, { error: { code: "store_unavailable", message: "down", request_id: "req_2" } }], () => [200, batch("completed", 0)]];
    let polls = 0;
    const server = createServer((req, res) => {
      const send = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      req.resume();
      req.on("end", () => {
        if (req.method === "POST") return send(202, batch("processing", 1));
        if (req.url!.includes("/results")) return send(200, { object: "list", has_more: false, data: [{ index: 0, status: "succeeded", amount: "1.00", currency: "USD", reference_id: null, idempotency_key: "ctx:o-1", response: { outcome: "completed" } }] });
        const [status, body] = answers[Math.min(polls++, answers.length - 1)]!() as [number, unknown];
        send(status, body);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = mkdtempSync(join(tmpdir(), "cli-outage-"));
      const path = join(dir, "o.csv");
      writeFileSync(path, `user_id,amount,currency,rail,customer_transaction_id\n${U1},1.00,USD,ach,o-1\n`);
      const out: string[] = [];
      const err: string[] = [];
      const code = await run(["node", "batchgate", "payouts", "submit", path, "--wait", "--poll-ms", "1"], {
        out: (s) => out.push(s),
        err: (s) => err.push(s),
        env: { BATCHGATE_URL: `http://127.0.0.1:${port}`, BATCHGATE_CLIENT_ID: "1", BATCHGATE_CLIENT_SECRET: "cs_x" },
      });
      expect(code, err.join("")).toBe(0);
      expect(polls).toBe(4);
      expect(out.join("")).toContain("batch batch_01OUTAGE completed");
      expect(out.join("")).toContain("no failed items");
    } finally {
      server.close();
    }
  });
});
