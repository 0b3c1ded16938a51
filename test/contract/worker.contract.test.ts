/**
 * The HTTP contract suite against the local worker: wrangler dev (workerd) serving src/worker.ts,
 * its Durable Object state under a temp DATA_DIR, seeded and started by the same code as
 * `npm run dev:worker`, upstreams from UPSTREAMS_JSON.
 */
import { startWorkerTarget } from "../helpers/worker.js";
import { defineContractSuite } from "./suite.js";

defineContractSuite("worker", startWorkerTarget);
