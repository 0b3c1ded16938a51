import { describe, expect, it } from "vitest";
import { makeGateway } from "../helpers/gateway.js";

const userCalls = (token: string, n: number) => Array.from({ length: n }, (_, i) => ({ call: "/user", authorization: token, reference_id: String(i) }));

describe("rate limits", () => {
  it("limits each client on the outer request, one unit per call, with RateLimit fields and Retry-After", async () => {
    const gw = await makeGateway({ users: 2, env: { RATE_LIMIT_COST: "call", CLIENT_RATE_LIMIT_POINTS: "10", CLIENT_RATE_LIMIT_WINDOW_S: "60" } });
    const token = gw.creds.users[0].access_token;
    const first = await gw.batch(userCalls(token, 6));
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get("ratelimit-policy")).toBe('"client";q=10;w=60');
    expect(first.res.headers.get("ratelimit")).toMatch(/^"client";r=4;t=\d+$/);
    const second = await gw.batch(userCalls(token, 6));
    expect(second.res.status).toBe(429);
    expect(second.body).toMatchObject({ error: "throttle_exceeded", error_code: 5001 });
    const retry = Number(second.res.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(second.res.headers.get("ratelimit")).toMatch(/^"client";r=\d+;t=\d+$/);
    // The other client has its own budget.
    const c2 = gw.creds.clients[1];
    const other = await gw.app.request("/batch/create", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: c2.client_id, client_secret: c2.client_secret, calls: userCalls(token, 6) }),
    });
    expect(other.status).toBe(200);
  });

  it("charges one unit per request under the request cost model", async () => {
    const gw = await makeGateway({ users: 1, env: { RATE_LIMIT_COST: "request", CLIENT_RATE_LIMIT_POINTS: "2", TOKEN_RATE_LIMIT_POINTS: "1000" } });
    const token = gw.creds.users[0].access_token;
    expect((await gw.batch(userCalls(token, 20))).res.status).toBe(200);
    expect((await gw.batch(userCalls(token, 20))).res.status).toBe(200);
    expect((await gw.batch(userCalls(token, 1))).res.status).toBe(429);
  });

  it("limits each access token across calls, so batching never bypasses a user's own limit", async () => {
    const gw = await makeGateway({ users: 2, env: { TOKEN_RATE_LIMIT_POINTS: "5", TOKEN_RATE_LIMIT_WINDOW_S: "60", CLIENT_RATE_LIMIT_POINTS: "1000" } });
    const [a, b] = gw.creds.users;
    const calls = [...userCalls(a.access_token, 8), ...userCalls(b.access_token, 2).map((c) => ({ ...c, reference_id: `b${c.reference_id}` }))];
    const { res, body } = await gw.batch(calls);
    expect(res.status).toBe(200);
    const aResults = body.calls.filter((c: any) => !c.reference_id.startsWith("b"));
    expect(aResults.filter((c: any) => c.status === 200)).toHaveLength(5);
    expect(aResults.filter((c: any) => c.status === 429 && c.response.error === "throttle_exceeded")).toHaveLength(3);
    expect(body.calls.filter((c: any) => c.reference_id.startsWith("b")).every((c: any) => c.status === 200)).toBe(true);

    // The same budget applies to single calls.
    const single = await gw.call("/user", a.access_token);
    expect(single.res.status).toBe(429);
    expect(single.body.error).toBe("throttle_exceeded");
    expect(Number(single.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(single.res.headers.get("ratelimit-policy")).toBe('"token";q=5;w=60');
    const okB = await gw.call("/user", b.access_token);
    expect(okB.res.status).toBe(200);
    expect(okB.res.headers.get("ratelimit")).toMatch(/^"token";r=2;t=\d+$/);
  });
});
