/**
 * The `batchgate` CLI as operators run it: `node src/cli/bin.js …` as a child process against the
 * real Node server (src/node.ts) with ADMIN_API_KEY set. Every command, tables and --json, exit
 * codes (0 done, 1 refused, 2 usage, 3 unreachable), and secrets shown once that then work.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { freePort, startServer, type RunningServer } from "../helpers/process.js";

const KEY = "cli-test-admin-key-0123456789abcdef";
let server: RunningServer;
let creds: any;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, BATCHGATE_ADMIN_KEY: KEY, BATCHGATE_URL: server.base, ...env };
    for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
    execFile(process.execPath, ["src/cli/bin.js", ...args], { env: childEnv as NodeJS.ProcessEnv, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

async function json(args: string[]): Promise<any> {
  const r = await cli(["--json", ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function v2(name: string, token: string, params: unknown = {}) {
  const res = await fetch(`${server.base}/v2${name}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(params) });
  return { status: res.status, body: (await res.json()) as any };
}

async function batchAs(clientId: number, secret: string) {
  const res = await fetch(`${server.base}/batch/create`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_id: clientId, client_secret: secret, calls: [{ call: "/user", authorization: creds.users[0].access_token }] }),
  });
  return res.status;
}

beforeAll(async () => {
  const dataDir = tempDir();
  server = await startServer({ DATA_DIR: dataDir, DEMO_USERS: "2", ADMIN_API_KEY: KEY });
  creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8"));
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe("batchgate CLI: clients", () => {
  it("creates a client (table, secret shown once) that works; rotate replaces the secret; disable ends it", async () => {
    const created = await cli(["clients", "create", "--name", "Partner CLI"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/client_id\s*│\s*\d+/);
    expect(created.stdout).toContain("Partner CLI");
    expect(created.stdout).toMatch(/client_secret\s*│\s*cs_/);
    expect(created.stdout).toContain("client_secret is shown once");
    const id = Number(/client_id\s*│\s*(\d+)/.exec(created.stdout)![1]);
    const secret = /client_secret\s*│\s*(cs_[A-Za-z0-9_-]+)/.exec(created.stdout)![1];
    expect(await batchAs(id, secret)).toBe(200);

    const rotated = await json(["clients", "rotate", String(id)]);
    expect(rotated).toMatchObject({ client_id: id, status: "active", client_secret: expect.stringMatching(/^cs_/) });
    expect(await batchAs(id, secret)).toBe(401);
    expect(await batchAs(id, rotated.client_secret)).toBe(200);

    const disabled = await cli(["clients", "disable", String(id)]);
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toMatch(/status\s*│\s*disabled/);
    expect(await batchAs(id, rotated.client_secret)).toBe(401);
  });
});

describe("batchgate CLI: users, tokens, wallets, audit", () => {
  it("runs a whole provisioning session, each answer usable on the gateway", async () => {
    const user = await json(["users", "create", "--email", "grace@example.com", "--first-name", "Grace", "--last-name", "Hopper"]);
    expect(user).toMatchObject({ user_id: expect.stringMatching(/^usr_/), email: "grace@example.com", first_name: "Grace", last_name: "Hopper" });

    const table = await cli(["tokens", "issue", user.user_id, "--scopes", "user:read,wallets:read,payments:write", "--expires-in", "3600"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain("access_token is shown once");
    const token = /access_token\s*│\s*(at_[A-Za-z0-9_-]+)/.exec(table.stdout)![1];
    const tokenId = /token_id\s*│\s*(tok_[A-Za-z0-9]+)/.exec(table.stdout)![1];
    expect((await v2("/user", token)).body.email).toBe("grace@example.com");

    const listed = await cli(["tokens", "list", user.user_id]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(tokenId);
    expect(listed.stdout).toContain("active");
    expect(listed.stdout).not.toContain(token);

    const wallet = await json(["wallets", "open", user.user_id, "--currency", "EUR"]);
    expect(wallet).toMatchObject({ wallet_id: expect.stringMatching(/^wal_/), currency: "EUR", balance: "0.00", frozen: false });
    const funded = await json(["wallets", "fund", wallet.wallet_id, "--amount", "120.00", "--reason", "welcome credit", "--idempotency-key", "grace-welcome"]);
    expect(funded).toMatchObject({ amount: "120.00", currency: "EUR", reason: "welcome credit", replayed: false, wallet: { balance: "120.00" } });
    const replay = await cli(["wallets", "fund", wallet.wallet_id, "--amount", "120.00", "--reason", "welcome credit", "--idempotency-key", "grace-welcome"]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/replayed\s*│\s*true/);
    expect(replay.stdout).toMatch(/balance\s*│\s*120\.00/);
    expect((await v2("/wallet/find", token, { wallet_id: wallet.wallet_id })).body.balance).toBe("120.00");

    const frozen = await cli(["wallets", "freeze", wallet.wallet_id]);
    expect(frozen.stdout).toMatch(/frozen\s*│\s*true/);
    const payee = (await json(["wallets", "open", user.user_id, "--currency", "EUR"])).wallet_id;
    const refused = await v2("/payment/create", token, { from_wallet_id: wallet.wallet_id, to_wallet_id: payee, amount: "1.00", currency: "EUR" });
    expect(refused.body.error).toBe("wallet_frozen");
    expect((await json(["wallets", "unfreeze", wallet.wallet_id])).frozen).toBe(false);

    const entries = await cli(["wallets", "entries", wallet.wallet_id]);
    expect(entries.code).toBe(0);
    expect(entries.stdout).toMatch(/120\.00\s*│\s*EUR\s*│\s*funding/);
    expect(entries.stdout).toContain(funded.funding_id);
    const entriesJson = await json(["wallets", "entries", wallet.wallet_id, "--limit", "1"]);
    expect(entriesJson).toMatchObject({ object: "list", has_more: false, data: [expect.objectContaining({ kind: "funding" })] });

    const revoked = await cli(["tokens", "revoke", tokenId]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/status\s*│\s*revoked/);
    expect((await v2("/user", token)).body.error).toBe("invalid_token");

    const audit = await cli(["audit", "--limit", "3"]);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/token\.revoke[\s\S]*wallet\.unfreeze[\s\S]*wallet\.open/);
    expect(audit.stdout).toMatch(/more: --starting-after aud_/);
    const cursor = /--starting-after (aud_\S+)/.exec(audit.stdout)![1];
    const older = await json(["audit", "--limit", "1", "--starting-after", cursor]);
    expect(older.data[0].action).toBe("wallet.freeze");
  }, 120_000);
});

describe("batchgate CLI: errors and exit codes", () => {
  it("exits 2 for usage errors: no BATCHGATE_ADMIN_KEY, unknown command, missing option, bad argument", async () => {
    const noKey = await cli(["users", "create", "--email", "a@example.com", "--first-name", "A", "--last-name", "B"], { BATCHGATE_ADMIN_KEY: undefined });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("BATCHGATE_ADMIN_KEY is not set");
    for (const args of [["frobnicate"], ["clients", "create"], ["clients", "rotate", "abc"], ["tokens", "issue", "usr_x"], ["wallets", "entries", "wal_x", "--limit", "0"]]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(/error/i);
    }
  });

  it("exits 1 with the gateway's code and request id when it refuses", async () => {
    const wrongKey = await cli(["audit"], { BATCHGATE_ADMIN_KEY: `${KEY}-wrong` });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/^error: invalid_admin_key: .+\(request req_\S+\)/);
    const missing = await cli(["wallets", "freeze", "wal_nobody"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("not_found");
    const bad = await cli(["wallets", "fund", creds.users[0].wallets[0].wallet_id, "--amount", "1.001", "--reason", "x"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid_body");
    expect(bad.stdout).toBe("");
  });

  it("exits 3 when the gateway cannot be reached", async () => {
    const port = await freePort();
    const r = await cli(["--url", `http://127.0.0.1:${port}`, "audit"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`Could not reach http://127.0.0.1:${port}`);
  });
});
