/**
 * What the HTTP contract suite runs against: a gateway process on loopback, seeded with demo data,
 * started the way a user starts it (`npm start` → src/node.ts, `npm run dev:worker` → wrangler dev).
 */
import type { DemoCredentials } from "../../src/demo-data.js";
import type { EventType } from "../../src/ports/events.js";

/** node: Node on SQLite; node-redis: Node on STORE=redis; worker: the local worker. */
export type ContractRuntime = "node" | "node-redis" | "worker";

export interface TargetSpec {
  /** Configuration variables (the same names on both runtimes). */
  env: Record<string, string>;
  /** Demo users to seed (DEMO_USERS). */
  users: number;
  /** Upstream handlers: the UPSTREAMS_FILE document on Node, UPSTREAMS_JSON on the worker. */
  upstreams?: { upstreams: unknown[] };
}

export interface IssueTokenOptions {
  expiresAt?: number | null;
  revoked?: boolean;
}

export interface ContractTarget {
  runtime: ContractRuntime;
  base: string;
  creds: DemoCredentials;
  /** Everything the process printed so far (its log lines among it). */
  output(): string;
  /** A fresh access token for an existing user, with the given scopes (test fixture). */
  issueToken(userId: string, scopes: string[], opts?: IssueTokenOptions): Promise<string>;
  /** Emits an event into the target's webhook outbox, as the batch runner does (test fixture). */
  emitEvent(event: { id: string; clientId: number; type: EventType; data: Record<string, unknown> }): Promise<void>;
  stop(): Promise<void>;
}

export type StartTarget = (spec: TargetSpec) => Promise<ContractTarget>;
