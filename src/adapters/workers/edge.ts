/**
 * @module
 * The stateless front of the worker: what runs before a request reaches the gateway's Durable
 * Object (src/worker.ts wires it to the object's stub).
 *
 * It enforces the body limit itself and forwards only a fully read body of at most
 * MAX_BODY_BYTES (ASYNC_BATCH_MAX_BODY_BYTES on /v1/batches, as the app's limit). Two reasons:
 * - If the object answered 413 before the body had been read (as the app's body-limit middleware
 *   does), the runtime would still be streaming the client's body into the object after the
 *   response went out, and reading the request after its response is an uncaught error in the
 *   worker (wrangler dev restarts the worker and fails the next request with 503).
 * - Oversized bodies never travel to the single object, whose throughput is the gateway's ceiling.
 * The 413 is the same body (rendered by the one renderer, src/http/errors.ts) and the same access
 * log line as the app's.
 *
 * A forward that fails (object reset, overloaded, deploying) answers 503 `service_unavailable`,
 * never retried here: the request may have moved money before the connection broke.
 *
 * Web-standard code only.
 */
import { ConfigError, parseConfig } from "../../config.js";
import { ERROR_CATALOG, type ErrorCode } from "../../core/errors.js";
import { renderError, surfaceOf } from "../../http/errors.js";
import { requestIdOf } from "../../http/request-context.js";
import type { Logger } from "../../ports/runtime.js";
import { configStrings, type WorkerVars } from "./gateway.js";
import { consoleSink, createConsoleLogger, type LogSink } from "./logger.js";
import { readAtMost } from "../../core/streams.js";
import { bodyLimitFor } from "../../http/body.js";

export interface EdgeOptions {
  /** Sends the request to the gateway object. */
  forward: (request: Request, env: WorkerVars) => Promise<Response>;
  logSink?: LogSink;
}

interface EdgeSettings {
  limits: { MAX_BODY_BYTES: number; ASYNC_BATCH_MAX_BODY_BYTES: number };
  logger: Logger;
}

function settingsFrom(env: WorkerVars, sink: LogSink): EdgeSettings | null {
  try {
    const config = parseConfig(configStrings(env));
    return { limits: config, logger: createConsoleLogger(config.LOG_LEVEL, sink) };
  } catch (e) {
    if (e instanceof ConfigError) return null; // the object answers 503 naming the variable
    throw e;
  }
}

export function createEdgeHandler(opts: EdgeOptions) {
  const sink = opts.logSink ?? consoleSink;
  let cached: { env: WorkerVars; settings: EdgeSettings | null } | null = null;

  return async function handle(request: Request, env: WorkerVars): Promise<Response> {
    if (cached?.env !== env) cached = { env, settings: settingsFrom(env, sink) };
    const settings = cached.settings;
    const started = Date.now();
    const requestId = requestIdOf(request.headers.get("x-request-id"));
    const path = new URL(request.url).pathname;

    const reject = (code: ErrorCode, message: string, headers?: Record<string, string>): Response => {
      settings?.logger.child({ request_id: requestId }).info({ method: request.method, path, status: ERROR_CATALOG[code].status, duration_ms: Date.now() - started }, "request");
      return renderError({ code, message }, surfaceOf(path), requestId, headers);
    };

    let forwarded = request;
    if (settings && request.body) {
      const limit = bodyLimitFor(path, settings.limits);
      const tooLarge = () => reject("body_too_large", `The request body is larger than ${limit} bytes.`);
      const declared = request.headers.get("content-length");
      if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) return tooLarge();
      const body = await readAtMost(request.body, limit);
      if (body === null) return tooLarge();
      forwarded = new Request(request.url, { method: request.method, headers: request.headers, body, redirect: "manual" });
    }

    try {
      return await opts.forward(forwarded, env);
    } catch (e) {
      (settings?.logger ?? createConsoleLogger("error", sink)).error(
        { request_id: requestId, err: { name: e instanceof Error ? e.name : "NonError", message: e instanceof Error ? e.message : String(e) } },
        "gateway object unavailable",
      );
      return reject("service_unavailable", "The gateway could not be reached; the request may or may not have run.");
    }
  };
}
