/**
 * The HTTP contract suite against the real Node server on STORE=redis (the real Redis, a key
 * prefix of its own per process, removed afterwards): the same contract as on SQLite and on
 * the worker, so every store behind the gateway is held to it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { RedisStore } from "../../src/adapters/redis/redis-store.js";
import type { DemoCredentials } from "../../src/demo-data.js";
import { issueTokenInto, tempDir } from "../helpers/gateway.js";
import { startServer } from "../helpers/process.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";
import { defineContractSuite } from "./suite.js";
import type { ContractTarget, StartTarget } from "./target.js";

const startNodeRedisTarget: StartTarget = async (spec) => {
  const dataDir = tempDir("batchgate-contract-redis-");
  const prefix = uniquePrefix("bgcontract");
  const env: Record<string, string> = { DATA_DIR: dataDir, DEMO_USERS: String(spec.users), LOG_LEVEL: "info", STORE: "redis", REDIS_URL, REDIS_PREFIX: prefix, ...spec.env };
  if (spec.upstreams) {
    const file = join(dataDir, "upstreams.json");
    writeFileSync(file, JSON.stringify(spec.upstreams));
    env.UPSTREAMS_FILE = file;
  }
  const server = await startServer(env);
  const creds = JSON.parse(readFileSync(join(dataDir, "demo-credentials.json"), "utf8")) as DemoCredentials;
  return {
    runtime: "node-redis",
    base: server.base,
    creds,
    output: server.output,
    // Written into the same Redis under the server's prefix, as another instance would.
    async issueToken(userId, scopes, opts = {}) {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      const store = new RedisStore({ redis, prefix });
      try {
        return await issueTokenInto(store, userId, scopes, opts);
      } finally {
        await store.close();
      }
    },
    stop: async () => {
      await server.stop("SIGTERM");
      await deleteRedisPrefix(prefix);
    },
  } satisfies ContractTarget;
};

describeRedis("HTTP contract on STORE=redis", () => defineContractSuite("node-redis", startNodeRedisTarget));
