/**
 * @module
 * A small HTTP client for the gateway's admin API, used by the CLI. Errors come back in the /v1
 * shape `{"error":{"code","message","request_id"}}` and are raised as ApiError.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    /** The v1 error's `details` (e.g. `{index, field}`), when it had any. */
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ApiOptions {
  url: string;
  /** Sent as `Authorization: Bearer …`; never printed. */
  bearer?: string;
  /** HTTP Basic credentials (client_id, client_secret) for the client-facing /v1 surface. */
  basic?: { clientId: string; clientSecret: string };
  fetch?: typeof fetch;
}

export class ApiClient {
  private readonly base: string;

  constructor(private readonly opts: ApiOptions) {
    this.base = opts.url.replace(/\/+$/, "");
  }

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    return this.request<T>("GET", q ? `${path}?${q}` : path);
  }

  post<T>(path: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<T> {
    return this.request<T>("POST", path, body, headers);
  }

  /** As post, with the answer's HTTP status (e.g. 201 created vs 200 an existing batch). */
  postWithStatus<T>(path: string, body: unknown = {}): Promise<{ status: number; body: T }> {
    return this.exchange<T>("POST", path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    return (await this.exchange<T>(method, path, body, extra)).body;
  }

  private async exchange<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { accept: "application/json", ...extra };
    if (this.opts.bearer) headers.authorization = `Bearer ${this.opts.bearer}`;
    if (this.opts.basic) headers.authorization = `Basic ${btoa(`${this.opts.basic.clientId}:${this.opts.basic.clientSecret}`)}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await (this.opts.fetch ?? fetch)(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, "connection_failed", `Could not reach ${this.base} (${(e as Error).cause ?? (e as Error).message}).`, null);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text.length ? JSON.parse(text) : null;
    } catch {
      throw new ApiError(res.status, "invalid_response", `${method} ${path} answered ${res.status} with a body that is not JSON.`, res.headers.get("x-request-id"));
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string; request_id?: string; details?: Record<string, unknown> } } | null)?.error;
      if (err && typeof err === "object") {
        const details = err.details && typeof err.details === "object" ? err.details : null;
        throw new ApiError(res.status, err.code ?? "error", err.message ?? `HTTP ${res.status}`, err.request_id ?? res.headers.get("x-request-id"), details);
      }
      const classic = parsed as { error?: string; error_description?: string; request_id?: string } | null;
      throw new ApiError(res.status, typeof classic?.error === "string" ? classic.error : "error", classic?.error_description ?? `HTTP ${res.status}`, classic?.request_id ?? null);
    }
    return { status: res.status, body: parsed as T };
  }
}
