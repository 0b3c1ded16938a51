/**
 * 40 atomic payment batches drawing from one wallet at once, over two gateway processes on one
 * store (real interleaving: two processes writing one SQLite file, or two instances on one
 * Redis). No batch may be half-applied: each is wholly paid (200, every payment completed) or
 * wholly undone (207, every payment that was made reversed), the wallet is never overdrawn, and
 * the sum of all balances is conserved. The same on one process and the local worker is in the
 * contract suite (test/contract/payments-batch.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";
import { hammerOneWallet } from "../helpers/payments-batch.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";

const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
});

async function pair(env: Record<string, string>): Promise<{ bases: string[]; creds: any }> {
  const dirA = tempDir("batchgate-conc-a-");
  const common = { DEMO_USERS: "4", LOG_LEVEL: "warn", CLIENT_RATE_LIMIT_POINTS: "1000000", TOKEN_RATE_LIMIT_POINTS: "1000000", ...env };
  const a = await startServer({ DATA_DIR: dirA, ...common, ...(env.DATA_DIR ? { DATA_DIR: env.DATA_DIR } : {}) });
  servers.push(a);
  const b = await startServer({ DATA_DIR: env.DATA_DIR ?? tempDir("batchgate-conc-b-"), ...common });
  servers.push(b);
  const creds = JSON.parse(readFileSync(join(env.DATA_DIR ?? dirA, "demo-credentials.json"), "utf8"));
  return { bases: [a.base, b.base], creds };
}

describe("40 atomic batches from one wallet, two processes on one SQLite file", () => {
  it("never overdraws it and leaves no batch half-applied", async () => {
    const { bases, creds } = await pair({ DATA_DIR: tempDir("batchgate-conc-sqlite-") });
    await hammerOneWallet(bases, creds.users[0], creds.users.slice(1, 4));
  }, 90_000);
});

describeRedis("40 atomic batches from one wallet, two instances on one Redis", () => {
  const prefix = uniquePrefix("bgconc");
  afterAll(() => deleteRedisPrefix(prefix));
  it("never overdraws it and leaves no batch half-applied", async () => {
    const { bases, creds } = await pair({ STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix });
    await hammerOneWallet(bases, creds.users[0], creds.users.slice(1, 4));
  }, 90_000);
});
