/**
 * The HTTP contract suite against the real Node server (`src/node.ts` as a child process, SQLite
 * under a temp DATA_DIR, upstreams from UPSTREAMS_FILE).
 */
import { startNodeTarget } from "../helpers/worker.js";
import { defineContractSuite } from "./suite.js";

defineContractSuite("node", startNodeTarget);
