/**
 * The worker adapter (src/adapters/workers/gateway.ts) in-process on Node, over a stand-in for the
 * Durable Object's storage: configuration errors answer 503 naming the variable (a worker cannot
 * exit), the dev-only routes exist only with DEV_ROUTES_TOKEN and only for its bearer, seeding
 * happens once, and the gateway served is the real one (the contract suite covers it under
 * wrangler dev).
 */
import { describe, expect, it } from "vitest";
import { createGatewayHandler, loadUpstreamsJson, type WorkerVars } from "../../src/adapters/workers/gateway.js";
import { ConfigError } from "../../src/config.js";
import type { DemoCredentials } from "../../src/demo-data.js";
import { fakeDurableObjectStorage } from "../helpers/fake-do-storage.js";

const DEV = "d".repeat(40);

function handler(env: WorkerVars) {
  const lines: string[] = [];
  const h = createGatewayHandler({ DEMO_USERS: "3", ...env }, fakeDurableObjectStorage(), { logSink: (_l, line) => lines.push(line) });
  const req = (path: string, init: RequestInit = {}) => h.fetch(new Request(`http://gw.test${path}`, init));
  return { h, req, lines };
}

const post = (headers: Record<string, string> = {}, body?: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: body === undefined ? undefined : JSON.stringify(body),
});

describe("worker gateway: configuration", () => {
  it("answers every request 503 service_unavailable naming the bad variable, and logs the whole message", async () => {
    const cases: [WorkerVars, string, RegExp][] = [
      [{ UPSTREAMS_JSON: "{not json" }, "UPSTREAMS_JSON", /UPSTREAMS_JSON is not valid JSON/],
      [{ UPSTREAMS_JSON: JSON.stringify({ upstreams: [{ call: "no-slash", url: "http://x" }] }) }, "UPSTREAMS_JSON", /UPSTREAMS_JSON is invalid at upstreams\.0\.call/],
      [{ UPSTREAMS_JSON: JSON.stringify({ upstreams: [{ call: "/user", url: "http://x" }] }) }, "UPSTREAMS_JSON", /UPSTREAMS_JSON.*replace a built-in/],
      [{ UPSTREAMS_FILE: "/etc/upstreams.json" }, "UPSTREAMS_FILE", /UPSTREAMS_FILE cannot be used on Workers/],
      [{ CLIENT_RATE_LIMIT_POINTS: "lots" }, "CLIENT_RATE_LIMIT_POINTS", /CLIENT_RATE_LIMIT_POINTS must be a whole number/],
      [{ DEV_ROUTES_TOKEN: "short" }, "DEV_ROUTES_TOKEN", /DEV_ROUTES_TOKEN must be at least 32/],
    ];
    for (const [env, variable, logged] of cases) {
      const { req, lines } = handler(env);
      for (const path of ["/healthz", "/batch/create"]) {
        const res = await req(path, path === "/healthz" ? {} : post({}, { calls: [] }));
        expect(res.status, variable).toBe(503);
        const body = (await res.json()) as any;
        expect(body).toMatchObject({ error: "service_unavailable", error_code: 5002, request_id: expect.stringMatching(/^req_/) });
        expect(body.error_description).toContain(`(${variable})`);
        expect(res.headers.get("x-request-id")).toBe(body.request_id);
      }
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "error");
      expect(errors.length).toBeGreaterThanOrEqual(3); // once when built, once per request
      expect(errors[0]).toMatchObject({ service: "batchgate", variable, msg: "invalid configuration" });
      expect(errors[0].error).toMatch(logged);
    }
  });

  it("takes UPSTREAMS_JSON as a JSON string or as a table from wrangler.toml", () => {
    const doc = { upstreams: [{ call: "/checkout/create", url: "https://checkout.internal/x", timeout_ms: 500 }] };
    expect(loadUpstreamsJson(JSON.stringify(doc))).toEqual([{ call: "/checkout/create", url: "https://checkout.internal/x", timeout_ms: 500, auth: "forward" }]);
    expect(loadUpstreamsJson(doc)).toHaveLength(1);
    expect(loadUpstreamsJson(undefined)).toEqual([]);
    expect(() => loadUpstreamsJson({ upstreams: "nope" })).toThrow(ConfigError);
  });
});

describe("worker gateway: dev routes", () => {
  it("do not exist without DEV_ROUTES_TOKEN", async () => {
    const { req } = handler({});
    const res = await req("/__dev/seed", post({ authorization: `Bearer ${DEV}` }));
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error).toBe("route_not_found");
    expect((await req("/readyz")).status).toBe(200);
  });

  it("need the bearer token, seed once, and issue tokens whose scopes the gateway enforces", async () => {
    const { req } = handler({ DEV_ROUTES_TOKEN: DEV });
    for (const auth of [undefined, "Bearer wrong", `Bearer ${DEV}x`, `Basic ${btoa(`x:${DEV}`)}`]) {
      const res = await req("/__dev/seed", post(auth ? { authorization: auth } : {}));
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error).toBe("invalid_token");
    }
    // Nothing was seeded by the refused attempts.
    const seed = await req("/__dev/seed", post({ authorization: `Bearer ${DEV}` }));
    expect(seed.status).toBe(200);
    const { status, credentials } = (await seed.json()) as { status: string; credentials: DemoCredentials };
    expect(status).toBe("seeded");
    expect(credentials.clients).toHaveLength(2);
    expect(credentials.users).toHaveLength(3);
    expect(credentials.users[0].wallets[0]).toMatchObject({ currency: "USD", balance: "1000.00" });
    const again = await req("/__dev/seed", post({ authorization: `Bearer ${DEV}` }));
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ status: "already_seeded" });

    // The seeded credentials work against the gateway served next to the dev routes.
    const [c] = credentials.clients;
    const [a] = credentials.users;
    const batch = await req("/batch/create", post({}, { client_id: c.client_id, client_secret: c.client_secret, calls: [{ call: "/user", authorization: a.access_token }] }));
    expect(batch.status).toBe(200);
    expect(((await batch.json()) as any).calls[0].response.user_id).toBe(a.user_id);

    const issued = await req("/__dev/tokens", post({ authorization: `Bearer ${DEV}` }, { user_id: a.user_id, scopes: ["wallets:read"] }));
    expect(issued.status).toBe(201);
    const { access_token } = (await issued.json()) as { access_token: string };
    const list = await req("/v2/wallet/list", post({ authorization: `Bearer ${access_token}` }, {}));
    expect(list.status).toBe(200);
    const me = await req("/v2/user", post({ authorization: `Bearer ${access_token}` }, {}));
    expect(me.status).toBe(403);
    expect(((await me.json()) as any).error).toBe("insufficient_scope");
    const unknownUser = await req("/__dev/tokens", post({ authorization: `Bearer ${DEV}` }, { user_id: "usr_nobody", scopes: [] }));
    expect(unknownUser.status).toBe(404);
    const badScope = await req("/__dev/tokens", post({ authorization: `Bearer ${DEV}` }, { user_id: a.user_id, scopes: ["admin"] }));
    expect(badScope.status).toBe(400);
  });

  it("refuses a second seed while the first is still running", async () => {
    const { req } = handler({ DEV_ROUTES_TOKEN: DEV, DEMO_USERS: "20" });
    const [x, y] = await Promise.all([req("/__dev/seed", post({ authorization: `Bearer ${DEV}` })), req("/__dev/seed", post({ authorization: `Bearer ${DEV}` }))]);
    expect([x.status, y.status].sort()).toEqual([200, 409]);
  });
});

describe("worker gateway: per-IP limit", () => {
  const guess = (ip: Record<string, string>) => post(ip, { client_id: 1, client_secret: "cs_guess", calls: [{ call: "/user" }] });

  it("keys by CF-Connecting-IP and ignores X-Forwarded-For without TRUST_PROXY", async () => {
    const { req } = handler({ IP_RATE_LIMIT_POINTS: "2", IP_RATE_LIMIT_WINDOW_S: "3600" });
    for (let i = 0; i < 2; i++) expect((await req("/batch/create", guess({ "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": `198.51.100.${i}` }))).status).toBe(401);
    const refused = await req("/batch/create", guess({ "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.99" }));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit-policy")).toBe('"ip";q=2;w=3600');
    expect(((await refused.json()) as { error: string }).error).toBe("throttle_exceeded");
    expect((await req("/batch/create", guess({ "cf-connecting-ip": "203.0.113.8" }))).status).toBe(401);
  });

  it("with TRUST_PROXY, reads the caller's proxies from X-Forwarded-For, not Cloudflare's own entry", async () => {
    const { req } = handler({ IP_RATE_LIMIT_POINTS: "1", IP_RATE_LIMIT_WINDOW_S: "3600", TRUST_PROXY: "1" });
    // A proxy in front of Cloudflare appended 198.51.100.5; Cloudflare appended its peer (the proxy).
    const via = (client: string) => ({ "cf-connecting-ip": "192.0.2.50", "x-forwarded-for": `${client}, 192.0.2.50` });
    expect((await req("/batch/create", guess(via("198.51.100.5")))).status).toBe(401);
    expect((await req("/batch/create", guess(via("198.51.100.5")))).status).toBe(429);
    expect((await req("/batch/create", guess(via("198.51.100.6")))).status).toBe(401);
  });
});
