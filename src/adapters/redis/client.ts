/**
 * @module
 * ioredis clients that never hang a request when Redis is unreachable.
 *
 * - Every command has a client-side timeout (`commandTimeout`, default 1 s).
 * - No offline queue (`enableOfflineQueue: false`): while the connection is not ready, a command
 *   fails at once instead of waiting. A queued command would be sent once Redis is back, possibly
 *   after its caller gave up and answered 503: for a payment, money moving after a failure was
 *   reported. So wait for readiness with connectRedis before serving.
 * - Commands in flight when the connection drops are not re-sent on reconnect
 *   (`autoResendUnfulfilledCommands: false`) for the same reason; their callers get an error
 *   (at the latest when the command timeout fires). Such an error means "outcome unknown": the
 *   script may have run. transfer and beginPayout are idempotent by id, so retrying the same
 *   request (same Idempotency-Key, hence same payment id) can never move money twice.
 * - Reconnection never stops (capped exponential backoff with jitter).
 * - Auto-pipelining (`enableAutoPipelining`): the single commands issued in one tick (a batch's
 *   rate-limit scripts, its wallet reads) go out in one write and come back in one read. Each
 *   keeps its own result, error and timeout; explicit pipelines and MULTI are sent as they are.
 */
import { Redis, type RedisOptions } from "ioredis";

export interface OpenRedisOptions {
  /** Client-side timeout of every command (ms). Default 1000. */
  commandTimeoutMs?: number;
  /** TCP connect timeout (ms). Default 2000. */
  connectTimeoutMs?: number;
  /** Upper bound of the reconnect backoff (ms). Default 2000. */
  maxRetryDelayMs?: number;
  /** Name shown in CLIENT LIST. */
  connectionName?: string;
  /** Connection errors (emitted while reconnecting). Default: ignored; commands report their own errors. */
  onError?: (err: Error) => void;
  /** Extra ioredis options, applied last. */
  redisOptions?: Partial<RedisOptions>;
}

/**
 * Validates a Redis URL (redis:// or rediss:// for TLS, host required, optional port and /db)
 * and returns it parsed. Throws a plain Error whose message never repeats the URL (it may carry
 * a password); the caller names the variable.
 */
export function assertRedisUrl(url: string): URL {
  const example = "expected redis://[user:password@]host[:port][/db] or rediss://... (TLS)";
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a valid URL; ${example}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new Error(`unsupported scheme "${u.protocol}"; ${example}`);
  if (!u.hostname) throw new Error(`missing host; ${example}`);
  if (u.pathname !== "" && u.pathname !== "/" && !/^\/\d+$/.test(u.pathname)) throw new Error(`the path must be a database number like /0; ${example}`);
  return u;
}

/** The URL with its password replaced, fit for logs and error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}

/**
 * Creates a client (connecting in the background) with the fail-fast behaviour above. Commands
 * fail until it is ready: use connectRedis to wait for that.
 */
export function openRedis(url: string, opts: OpenRedisOptions = {}): Redis {
  assertRedisUrl(url);
  const maxDelay = opts.maxRetryDelayMs ?? 2000;
  const redis = new Redis(url, {
    commandTimeout: opts.commandTimeoutMs ?? 1000,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay) + Math.floor(Math.random() * 100),
    connectionName: opts.connectionName,
    ...opts.redisOptions,
  });
  redis.on("error", opts.onError ?? (() => {}));
  return redis;
}

/**
 * Opens a client and waits until it is ready; rejects (and closes the client) when Redis cannot
 * be reached within `timeoutMs` (default 5000), so a bad REDIS_URL stops the process at start.
 */
export async function connectRedis(url: string, opts: OpenRedisOptions & { timeoutMs?: number } = {}): Promise<Redis> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  let lastError: Error | undefined;
  const redis = openRedis(url, {
    ...opts,
    onError: (err) => {
      lastError = err;
      opts.onError?.(err);
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ready connection within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onEnd = () => {
        cleanup();
        reject(new Error("connection closed"));
      };
      const cleanup = () => {
        clearTimeout(timer);
        redis.off("ready", onReady);
        redis.off("end", onEnd);
      };
      redis.on("ready", onReady);
      redis.on("end", onEnd);
    });
    return redis;
  } catch (e) {
    redis.disconnect();
    const why = lastError ? `${(e as Error).message} (last error: ${lastError.message})` : (e as Error).message;
    throw new Error(`cannot connect to Redis at ${redactRedisUrl(url)}: ${why}`);
  }
}

const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM)\b/;
const CONNECTION_MESSAGE = /Command timed out|Connection is closed|Stream isn't writeable|Redis connection is not ready|max retries per request/i;

/**
 * True for errors that mean "Redis cannot serve now" (connection down or refused, command timed
 * out, server loading, read-only replica, busy script, out of memory), as opposed to a bug or a
 * rejected command.
 */
export function isRedisUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name === "ReplyError") return UNAVAILABLE_REPLY.test(e.message);
  if (e.name === "MaxRetriesPerRequestError") return true;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return CONNECTION_MESSAGE.test(e.message);
}
