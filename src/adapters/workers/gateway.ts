/**
 * @module
 * Builds the gateway for Workers from the worker's environment and the Durable Object's storage:
 * configuration from the env vars (parseConfig, the same validation as Node), upstreams from
 * UPSTREAMS_JSON, the SQL store and SQL rate limiters over the object's SQLite storage, Web Crypto
 * hashing and the JSON console logger. Returns a fetch handler: the app, plus the dev-only routes
 * when DEV_ROUTES_TOKEN is set.
 *
 * A worker cannot stop at start the way the Node process does when a variable is bad, so a bad
 * configuration turns every request into 503 `service_unavailable` whose description names the
 * variable, and the full message is logged with each of them.
 *
 * Web-standard code only (no `cloudflare:*` imports, no Workers globals): it type-checks and runs
 * on Node too, which the unit tests use.
 */
import { createApp } from "../../app.js";
import { ConfigError, type GatewayConfig, parseConfig } from "../../config.js";
import { newId } from "../../core/ids.js";
import { buildRegistry, type UpstreamConfig, UpstreamsFileSchema } from "../../handlers/index.js";
import type { PeerOf } from "../../http/client-ip.js";
import type { DocsAssets } from "../../http/docs-assets.js";
import { renderError, surfaceOf } from "../../http/errors.js";
import type { Clock, Logger } from "../../ports/runtime.js";
import { createServices, type GatewayServices, systemClock } from "../../services.js";
import { TextMetrics } from "../../core/metrics-registry.js";
import { createSecretBox } from "../../core/secret-box.js";
import { SandboxRail } from "../rails/sandbox.js";
import { type DurableObjectSqlStorage, durableObjectSqlDriver } from "../sqlite/durable-object-driver.js";
import { sqlRateLimiter } from "../sqlite/sql-rate-limiter.js";
import { SqlStore } from "../sqlite/sql-store.js";
import { type AlarmStorage, AlarmRunner } from "./alarm-runner.js";
import { devRoutes } from "./dev-routes.js";
import { webCryptoHasher } from "./hasher.js";
import { consoleSink, createConsoleLogger, type LogSink } from "./logger.js";

/** The worker's `env`: string vars (and, from wrangler.toml, possibly numbers or a table), plus bindings. */
export type WorkerVars = Record<string, unknown>;

export interface WorkerGatewayOptions {
  /** The /docs page's files (bundled as text by the worker entry). */
  docsAssets?: DocsAssets;
  clock?: Clock;
  fetch?: typeof fetch;
  logSink?: LogSink;
}

export interface GatewayHandler {
  fetch(request: Request): Promise<Response>;
  /** The Durable Object's alarm fired: run the background pumps. */
  alarm(): Promise<void>;
}

/** The object's storage: SQL for the store, and the alarm for background work when it has one. */
export type GatewayStorage = DurableObjectSqlStorage & Partial<AlarmStorage>;

/** Minimum length of DEV_ROUTES_TOKEN: the dev routes hand out credentials. */
const DEV_TOKEN_MIN_LENGTH = 32;

/** Env values as the strings parseConfig expects: strings as they are, numbers and booleans printed, bindings left out. */
export function configStrings(env: WorkerVars): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    if (typeof v === "string") out[k] = v;
    else if (typeof v === "number" || typeof v === "boolean") out[k] = String(v);
  }
  return out;
}

/**
 * Upstreams from UPSTREAMS_JSON: the same document as the Node UPSTREAMS_FILE, as a JSON string
 * (a `--var`, a `[vars]` string or a secret) or as a table in wrangler.toml's `[vars]`.
 */
export function loadUpstreamsJson(value: unknown): UpstreamConfig[] {
  if (value === undefined || value === "") return [];
  let raw: unknown = value;
  if (typeof value === "string") {
    try {
      raw = JSON.parse(value);
    } catch (e) {
      throw new ConfigError("UPSTREAMS_JSON", `is not valid JSON (${(e as Error).message})`);
    }
  }
  const parsed = UpstreamsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError("UPSTREAMS_JSON", `is invalid at ${issue.path.join(".") || "top level"}: ${issue.message}`);
  }
  return parsed.data.upstreams;
}

export interface WorkerGateway {
  config: GatewayConfig;
  services: GatewayServices;
  /** DEV_ROUTES_TOKEN when set and valid. */
  devToken: string | null;
}

/** Validates the environment and builds the services; throws ConfigError naming the variable. */
export function buildWorkerGateway(env: WorkerVars, storage: GatewayStorage, opts: WorkerGatewayOptions = {}): WorkerGateway {
  const vars = configStrings(env);
  const config = parseConfig(vars);
  if (vars.UPSTREAMS_FILE) {
    throw new ConfigError("UPSTREAMS_FILE", "cannot be used on Workers (there is no file system); put the same document in UPSTREAMS_JSON");
  }
  const upstreams = loadUpstreamsJson(env.UPSTREAMS_JSON);
  let handlers;
  try {
    handlers = buildRegistry(upstreams);
  } catch (e) {
    throw new ConfigError("UPSTREAMS_JSON", (e as Error).message);
  }
  const devToken = vars.DEV_ROUTES_TOKEN ? vars.DEV_ROUTES_TOKEN : null;
  if (devToken !== null && devToken.length < DEV_TOKEN_MIN_LENGTH) {
    throw new ConfigError("DEV_ROUTES_TOKEN", `must be at least ${DEV_TOKEN_MIN_LENGTH} characters`);
  }

  const clock = opts.clock ?? systemClock;
  const db = durableObjectSqlDriver(storage);
  const logger = createConsoleLogger(config.LOG_LEVEL, opts.logSink ?? consoleSink);
  const { getAlarm, setAlarm } = storage;
  const background =
    getAlarm && setAlarm
      ? new AlarmRunner({ storage: { getAlarm: () => getAlarm.call(storage), setAlarm: (t) => setAlarm.call(storage, t) }, clock, logger })
      : undefined;
  const services = createServices({
    config,
    store: new SqlStore(db),
    handlers,
    hasher: webCryptoHasher,
    rails: new SandboxRail(),
    logger,
    background,
    clientLimiter: sqlRateLimiter(db, { policy: "client", points: config.CLIENT_RATE_LIMIT_POINTS, windowSeconds: config.CLIENT_RATE_LIMIT_WINDOW_S, clock }),
    tokenLimiter: sqlRateLimiter(db, { policy: "token", points: config.TOKEN_RATE_LIMIT_POINTS, windowSeconds: config.TOKEN_RATE_LIMIT_WINDOW_S, clock }),
    ipLimiter: sqlRateLimiter(db, { policy: "ip", points: config.IP_RATE_LIMIT_POINTS, windowSeconds: config.IP_RATE_LIMIT_WINDOW_S, clock }),
    // Counted in this object's memory: a restarted object starts from zero, which Prometheus reads
    // as a counter reset (rate() and increase() handle it).
    metrics: new TextMetrics(),
    clock,
    fetch: opts.fetch,
    // Workers cannot resolve names (no resolver: the SSRF guard checks literal addresses and local
    // names), and have nowhere private to keep a generated key: without WEBHOOK_SECRET_KEY,
    // endpoints cannot be created.
    webhooks: config.WEBHOOK_SECRET_KEY
      ? { box: createSecretBox(config.WEBHOOK_SECRET_KEY), resolver: null }
      : { box: null, resolver: null, secretsUnavailable: "Webhook endpoints cannot be created: the operator must set the WEBHOOK_SECRET_KEY secret (npx wrangler secret put WEBHOOK_SECRET_KEY)." },
  });
  return { config, services, devToken };
}

/** The object's request handler: the gateway, or 503 for every request when the configuration is bad. */
export function createGatewayHandler(env: WorkerVars, storage: GatewayStorage, opts: WorkerGatewayOptions = {}): GatewayHandler {
  let gateway: WorkerGateway;
  try {
    gateway = buildWorkerGateway(env, storage, opts);
  } catch (e) {
    return misconfigured(e, env, opts.logSink ?? consoleSink);
  }
  const { services, devToken, config } = gateway;
  const app = createApp(services, { docsAssets: opts.docsAssets, peerOf: cloudflarePeer });
  const dev = devToken
    ? devRoutes({ token: devToken, store: services.store, hasher: webCryptoHasher, demoUsers: config.DEMO_USERS, clock: opts.clock ?? systemClock, events: services.events })
    : null;
  services.background.start();
  return {
    alarm: () => (services.background instanceof AlarmRunner ? services.background.runDue() : Promise.resolve()),
    async fetch(request) {
      if (dev) {
        const res = await dev(request);
        if (res) return res;
      }
      return app.fetch(request);
    },
  };
}

/**
 * The peer is CF-Connecting-IP, which Cloudflare sets to the address it saw (a caller cannot set
 * it). Cloudflare also appends that address to X-Forwarded-For; it is taken off, so TRUST_PROXY
 * counts only the caller's own proxies in front of Cloudflare.
 */
const cloudflarePeer: PeerOf = (c) => {
  const peer = c.req.header("cf-connecting-ip");
  let forwardedFor = c.req.header("x-forwarded-for");
  if (forwardedFor && peer) {
    const hops = forwardedFor.split(",").map((s) => s.trim());
    if (hops[hops.length - 1] === peer) forwardedFor = hops.slice(0, -1).join(", ") || undefined;
  }
  return { peer, forwardedFor };
};

function misconfigured(e: unknown, env: WorkerVars, sink: LogSink): GatewayHandler {
  const variable = e instanceof ConfigError ? e.variable : null;
  const message = e instanceof Error ? e.message : String(e);
  const level = typeof env.LOG_LEVEL === "string" ? env.LOG_LEVEL : "info";
  const logger: Logger = createConsoleLogger(level === "silent" ? "error" : level, sink);
  logger.error({ variable, error: message }, "invalid configuration");
  const description = variable
    ? `The gateway's configuration is invalid (${variable}); nothing ran. The operator's logs have the details.`
    : "The gateway could not start; nothing ran. The operator's logs have the details.";
  return {
    alarm: async () => undefined,
    async fetch(request) {
      const requestId = newId("req");
      logger.error({ request_id: requestId, variable, error: message }, "invalid configuration: request refused");
      return renderError({ code: "service_unavailable", message: description }, surfaceOf(new URL(request.url).pathname), requestId);
    },
  };
}
