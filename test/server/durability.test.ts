/**
 * Durability of the embedded store: kill -9 the real server in the middle of a payment load,
 * restart it on the same DATA_DIR, and check that no money appeared or vanished, every
 * acknowledged payment is in the ledger, and every answered idempotency key still replays.
 */
import Database from "better-sqlite3";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_TREASURY_MINOR } from "../../src/demo-data.js";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";

const running: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("SIGKILL")));
});

interface Sent {
  key: string;
  token: string;
  body: string;
  status?: number;
  text?: string;
}

function ledgerTotals(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const wallets = (db.prepare("SELECT COALESCE(SUM(balance),0) AS s, COUNT(*) AS n, MIN(balance) AS lo FROM wallets").get() as any);
    const entries = (db.prepare("SELECT COALESCE(SUM(amount),0) AS s FROM ledger_entries").get() as any).s;
    const mismatched = db
      .prepare("SELECT COUNT(*) AS n FROM wallets w LEFT JOIN (SELECT account, SUM(amount) s FROM ledger_entries GROUP BY account) e ON e.account = w.wallet_id WHERE w.balance != COALESCE(e.s,0)")
      .get() as any;
    const payments = (db.prepare("SELECT COUNT(*) AS n FROM payments").get() as any).n;
    return { walletSum: wallets.s, walletCount: wallets.n, lowest: wallets.lo, entries, mismatched: mismatched.n, payments };
  } finally {
    db.close();
  }
}

describe("kill -9 during a payment load", () => {
  it("keeps balances, acknowledged payments and answered idempotency keys across the crash", async () => {
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir, DEMO_USERS: "8", TOKEN_RATE_LIMIT_POINTS: "1000000", CLIENT_RATE_LIMIT_POINTS: "1000000" };
    const first = await startServer(env);
    running.push(first);
    const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
    const users = creds.users as { access_token: string; wallets: { wallet_id: string }[] }[];
    // The demo users' wallets and the demo clients' treasuries.
    const funded = users.length * 100_000 + creds.clients.length * DEMO_TREASURY_MINOR;

    const sent: Sent[] = [];
    let killed = false;
    const worker = async (w: number) => {
      for (let i = 0; i < 400 && !killed; i++) {
        const from = users[(w + i) % users.length];
        const to = users[(w + i + 1 + (i % 3)) % users.length];
        const amount = `${1 + (i % 7)}.${String((w * 13 + i) % 100).padStart(2, "0")}`;
        const s: Sent = {
          key: `load-${w}-${i}`,
          token: from.access_token,
          body: JSON.stringify({ from_wallet_id: from.wallets[0].wallet_id, to_wallet_id: to.wallets[0].wallet_id, amount, currency: "USD" }),
        };
        sent.push(s);
        try {
          const res = await fetch(`${first.base}/v2/payment/create`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${s.token}`, "idempotency-key": s.key },
            body: s.body,
          });
          const text = await res.text();
          s.status = res.status;
          s.text = text;
        } catch {
          return; // the server died under us
        }
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
    // Kill once a good number of payments were acknowledged (bounded wait).
    for (let t = 0; t < 200 && sent.filter((s) => s.status === 200).length < 120; t++) await new Promise((r) => setTimeout(r, 25));
    first.child.kill("SIGKILL");
    killed = true;
    await load;
    await first.stop("SIGKILL");

    const acknowledged = sent.filter((s) => s.status === 200);
    const answered = sent.filter((s) => s.status !== undefined);
    const unanswered = sent.filter((s) => s.status === undefined);
    expect(acknowledged.length).toBeGreaterThan(20);

    const dbFile = join(dataDir, "batchgate.sqlite");
    const afterCrash = ledgerTotals(dbFile);
    expect(afterCrash.walletSum).toBe(funded);
    expect(afterCrash.entries).toBe(0); // double entry: every movement sums to zero
    expect(afterCrash.mismatched).toBe(0);
    expect(afterCrash.lowest).toBeGreaterThanOrEqual(0);
    expect(afterCrash.payments).toBeGreaterThanOrEqual(acknowledged.length);

    const second = await startServer(env);
    running.push(second);
    const post = (s: Sent) =>
      fetch(`${second.base}/v2/payment/create`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.token}`, "idempotency-key": s.key },
        body: s.body,
      });

    // Every acknowledged payment is in the ledger, as it was reported.
    for (const s of acknowledged) {
      const p = JSON.parse(s.text!);
      const res = await fetch(`${second.base}/v2/payment/find`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.token}` },
        body: JSON.stringify({ payment_id: p.payment_id }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).amount).toBe(p.amount);
    }
    // Every answered key replays the very same answer.
    for (const s of answered) {
      const res = await post(s);
      expect(res.status).toBe(s.status);
      expect(res.headers.get("idempotent-replayed")).toBe("true");
      expect(await res.text()).toBe(s.text);
    }
    // Keys that were in flight at the crash can be retried safely: at most one payment each.
    // (A key whose claim was still in flight at the crash answers 409 until the claim expires.)
    let retriedOk = 0;
    let stillLocked = 0;
    for (const s of unanswered) {
      const res = await post(s);
      expect([200, 409, 422]).toContain(res.status);
      if (res.status === 200) retriedOk++;
      if (res.status === 409) stillLocked++;
    }
    const final = ledgerTotals(dbFile);
    expect(final.walletSum).toBe(funded);
    expect(final.entries).toBe(0);
    expect(final.mismatched).toBe(0);
    // One payment per key at most: acknowledged ones, retried ones, and at most one per locked key.
    expect(final.payments).toBeGreaterThanOrEqual(acknowledged.length + retriedOk);
    expect(final.payments).toBeLessThanOrEqual(acknowledged.length + retriedOk + stillLocked);
    await second.stop();
  }, 120_000);
});
