/**
 * Two gateway processes on two ports sharing one real Redis (STORE=redis) must behave as one:
 * one Idempotency-Key → one debit, one shared client rate limit, no overdraft under load.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { describeRedis, deleteRedisPrefix, REDIS_URL } from "../helpers/redis.js";

const prefix = `bgtest-two-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const LIMIT = 30;

describeRedis("two instances on one Redis", () => {
  let a: RunningServer;
  let b: RunningServer;
  let creds: any;
  const dirA = tempDir();
  const dirB = tempDir();

  beforeAll(async () => {
    const env = {
      STORE: "redis",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      DEMO_USERS: "4",
      RATE_LIMIT_COST: "request",
      CLIENT_RATE_LIMIT_POINTS: String(LIMIT),
      CLIENT_RATE_LIMIT_WINDOW_S: "600",
      TOKEN_RATE_LIMIT_POINTS: "100000",
    };
    a = await startServer({ ...env, DATA_DIR: dirA });
    b = await startServer({ ...env, DATA_DIR: dirB });
    creds = JSON.parse(readFileSync(join(dirA, "demo-credentials.json"), "utf8"));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    await deleteRedisPrefix(prefix);
  });

  const servers = () => [a, b];
  const balance = async (u: any) => {
    const res = await fetch(`${a.base}/v2/wallet/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${u.access_token}` },
      body: JSON.stringify({ wallet_id: u.wallets[0].wallet_id }),
    });
    return ((await res.json()) as any).balance as string;
  };

  it("seeds once: only the first instance wrote demo credentials", () => {
    expect(existsSync(join(dirA, "demo-credentials.json"))).toBe(true);
    expect(existsSync(join(dirB, "demo-credentials.json"))).toBe(false);
    expect(creds.users).toHaveLength(4);
  });

  it("(a) 50 concurrent retries of one Idempotency-Key over both instances debit exactly once", async () => {
    const [payer, payee] = creds.users;
    const body = JSON.stringify({ from_wallet_id: payer.wallets[0].wallet_id, to_wallet_id: payee.wallets[0].wallet_id, amount: "12.34", currency: "USD" });
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${servers()[i % 2].base}/v2/payment/create`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${payer.access_token}`, "idempotency-key": "two-instances-one-key" },
          body,
        }).then(async (r) => ({ status: r.status, text: await r.text() })),
      ),
    );
    const ok = answers.filter((x) => x.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(answers.every((x) => x.status === 200 || x.status === 409)).toBe(true);
    expect(new Set(ok.map((x) => x.text)).size).toBe(1);
    expect(await balance(payer)).toBe("987.66");
    expect(await balance(payee)).toBe("1012.34");
  });

  it("(b) the outer rate limit is shared: exactly N accepted across both", async () => {
    const c = creds.clients[0];
    const u = creds.users[3];
    const statuses = await Promise.all(
      Array.from({ length: LIMIT + 20 }, (_, i) =>
        fetch(`${servers()[i % 2].base}/batch/create`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/user", authorization: u.access_token }] }),
        }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
  });

  it("(c) 200 concurrent payments out of one wallet over both end at funding minus accepted, never negative", async () => {
    const [, , payer, payee] = creds.users;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        fetch(`${servers()[i % 2].base}/v2/payment/create`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${payer.access_token}` },
          body: JSON.stringify({ from_wallet_id: payer.wallets[0].wallet_id, to_wallet_id: payee.wallets[0].wallet_id, amount: "7.00", currency: "USD" }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })),
      ),
    );
    const accepted = results.filter((r) => r.status === 200).length;
    expect(results.filter((r) => r.status !== 200).every((r) => r.status === 422 && r.body.error === "insufficient_funds")).toBe(true);
    expect(accepted).toBe(Math.floor(100_000 / 700)); // every payment that fits, and no more
    expect(await balance(payer)).toBe(((100_000 - 700 * accepted) / 100).toFixed(2));
    const all = await Promise.all(creds.users.map(balance));
    expect(all.reduce((s: number, v: string) => s + Math.round(Number(v) * 100), 0)).toBe(4 * 100_000);
  });
});
