/**
 * The HTTP contract suite against the real Node server on STORE=redis (the real Redis, a key
 * prefix of its own per process, removed afterwards): the same contract as on SQLite and on
 * the worker, so every store behind the gateway is held to it.
 */
import { Redis } from "ioredis";
import { RedisStore } from "../../src/adapters/redis/redis-store.js";
import { nodeTarget } from "../helpers/worker.js";
import { deleteRedisPrefix, describeRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.js";
import { defineContractSuite } from "./suite.js";
import type { StartTarget } from "./target.js";

// Each target process gets a prefix of its own; tokens are written into the same Redis, as
// another instance would write them.
const startNodeRedisTarget: StartTarget = (spec) => {
  const own = uniquePrefix("bgcontract");
  return nodeTarget({
    runtime: "node-redis",
    env: { STORE: "redis", REDIS_URL, REDIS_PREFIX: own },
    openStore: () => new RedisStore({ redis: new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }), prefix: own }),
    cleanup: () => deleteRedisPrefix(own),
  })(spec);
};

describeRedis("HTTP contract on STORE=redis", () => defineContractSuite("node-redis", startNodeRedisTarget));
