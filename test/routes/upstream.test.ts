/**
 * Upstream handlers against a real HTTP server on loopback, declared in a real config file.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadUpstreams } from "../../src/adapters/node/gateway.js";
import { ConfigError } from "../../src/config.js";
import { makeGateway, tempDir, type TestGateway } from "../helpers/gateway.js";

let server: Server;
let base: string;
const seen: { path: string; auth: string | undefined; requestId: string | undefined; body: unknown }[] = [];

async function readBody(req: IncomingMessage) {
  let s = "";
  for await (const chunk of req) s += chunk;
  return s;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const text = await readBody(req);
    seen.push({ path: req.url!, auth: req.headers.authorization, requestId: req.headers["x-request-id"] as string, body: text ? JSON.parse(text) : null });
    const send = (status: number, body: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(body);
    };
    if (req.url === "/checkout") return send(200, JSON.stringify({ checkout_id: 77, echo: JSON.parse(text) }));
    if (req.url === "/denied") return send(403, JSON.stringify({ error: "access_denied", error_description: "this account can no longer transact", error_code: 3004 }));
    if (req.url === "/broken") return send(500, "<html>oops</html>");
    if (req.url === "/not-json") return send(200, "plain text");
    if (req.url === "/slow") return void setTimeout(() => send(200, "{}"), 3000);
    if (req.url === "/huge") return send(200, JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }));
    if (req.url === "/deep") return send(200, "[".repeat(100_000) + "]".repeat(100_000));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function gatewayWithUpstreams(): Promise<TestGateway> {
  const file = join(tempDir(), "upstreams.json");
  writeFileSync(
    file,
    JSON.stringify({
      upstreams: [
        { call: "/checkout/create", url: `${base}/checkout`, timeout_ms: 2000 },
        { call: "/checkout/denied", url: `${base}/denied` },
        { call: "/checkout/broken", url: `${base}/broken` },
        { call: "/checkout/text", url: `${base}/not-json` },
        { call: "/checkout/slow", url: `${base}/slow`, timeout_ms: 200 },
        { call: "/status/public", url: `${base}/checkout`, auth: "none" },
        { call: "/checkout/down", url: "http://127.0.0.1:9/nothing-listens-here" },
        { call: "/checkout/huge", url: `${base}/huge` },
        { call: "/checkout/deep", url: `${base}/deep` },
      ],
    }),
  );
  return makeGateway({ users: 1, env: { UPSTREAMS_FILE: file } });
}

describe("upstream handlers", () => {
  it("forwards parameters, the access token and the request id; 2xx JSON is the call's response", async () => {
    const gw = await gatewayWithUpstreams();
    const token = gw.creds.users[0].access_token;
    seen.length = 0;
    const { body } = await gw.batch([
      { call: "/checkout/create", authorization: token, reference_id: "c", parameters: { account_id: 12345, amount: 100, currency: "USD" } },
      { call: "/user", authorization: token, reference_id: "u" },
      { call: "/status/public", reference_id: "pub", parameters: {} },
    ]);
    expect(body.calls[0]).toEqual({ call: "/checkout/create", reference_id: "c", status: 200, response: { checkout_id: 77, echo: { account_id: 12345, amount: 100, currency: "USD" } } });
    expect(body.calls[1].status).toBe(200);
    expect(body.calls[2].status).toBe(200);
    const hit = seen.find((s) => (s.body as any)?.account_id === 12345)!;
    expect(hit.auth).toBe(`Bearer ${token}`);
    expect(hit.requestId).toBe(body.request_id);
    expect(seen.find((s) => s.auth === undefined)).toBeDefined();
  });

  it("turns non-2xx, non-JSON, slow and unreachable upstreams into that call's error only", async () => {
    const gw = await gatewayWithUpstreams();
    const token = gw.creds.users[0].access_token;
    const { res, body } = await gw.batch([
      { call: "/checkout/denied", authorization: token },
      { call: "/checkout/broken", authorization: token },
      { call: "/checkout/text", authorization: token },
      { call: "/checkout/slow", authorization: token },
      { call: "/checkout/down", authorization: token },
      { call: "/checkout/create" },
      { call: "/user", authorization: token },
    ]);
    expect(res.status).toBe(200);
    const [denied, broken, text, slow, down, noToken, user] = body.calls;
    expect(denied).toMatchObject({ status: 502, response: { error: "upstream_error", error_description: "The upstream answered 403: this account can no longer transact" } });
    expect(broken).toMatchObject({ status: 502, response: { error: "upstream_error", error_description: "The upstream answered 500." } });
    expect(text.response.error).toBe("upstream_error");
    expect(slow).toMatchObject({ status: 504, response: { error: "call_timeout" } });
    expect(down).toMatchObject({ status: 502, response: { error: "upstream_unavailable" } });
    expect(noToken).toMatchObject({ status: 401, response: { error: "missing_authorization" } });
    expect(user.status).toBe(200);
    const huge = await gw.batch([{ call: "/checkout/huge", authorization: token }, { call: "/checkout/deep", authorization: token }]);
    expect(huge.res.status).toBe(200);
    expect(huge.body.calls[0]).toMatchObject({ status: 502, response: { error: "upstream_error", error_description: expect.stringContaining("larger than") } });
    expect(huge.body.calls[1]).toMatchObject({ status: 502, response: { error: "upstream_error", error_description: expect.stringContaining("deeper than") } });
    // Same handler alone.
    const single = await gw.call("/checkout/denied", token, {});
    expect(single.res.status).toBe(502);
  });

  it("rejects a bad upstreams file with a message naming UPSTREAMS_FILE", () => {
    const dir = tempDir();
    const bad = [
      { upstreams: [{ call: "no-slash", url: "http://x" }] },
      { upstreams: [{ call: "/x", url: "ftp://x" }] },
      { upstreams: [{ call: "/x", url: "http://x", timeout_ms: -1 }] },
    ];
    for (const [i, content] of bad.entries()) {
      const file = join(dir, `bad${i}.json`);
      writeFileSync(file, JSON.stringify(content));
      expect(() => loadUpstreams(file)).toThrow(ConfigError);
      expect(() => loadUpstreams(file)).toThrow(/UPSTREAMS_FILE/);
    }
    expect(() => loadUpstreams(join(dir, "missing.json"))).toThrow(/UPSTREAMS_FILE/);
  });
});
