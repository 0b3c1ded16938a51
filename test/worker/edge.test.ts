/**
 * The worker's stateless front (src/adapters/workers/edge.ts): bodies over MAX_BODY_BYTES are
 * refused before anything reaches the gateway object, declared or streamed; bodies within it reach
 * the object intact; an unreachable object is a 503, not a crash.
 */
import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../../src/adapters/workers/edge.js";

function setup(env: Record<string, unknown> = {}, forward?: (r: Request) => Promise<Response>) {
  const seen: { method: string; url: string; body: string; headers: Headers }[] = [];
  const lines: string[] = [];
  const edge = createEdgeHandler({
    logSink: (_l, line) => lines.push(line),
    forward:
      forward ??
      (async (r) => {
        seen.push({ method: r.method, url: r.url, body: await r.text(), headers: r.headers });
        return new Response("from the object", { status: 200 });
      }),
  });
  return { edge: (r: Request) => edge(r, env), seen, lines };
}

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < parts.length) c.enqueue(enc.encode(parts[i++]));
      else c.close();
    },
  });
}

describe("worker edge", () => {
  it("refuses a declared or streamed body over the limit with the classic 413, and forwards nothing", async () => {
    const { edge, seen, lines } = setup({ MAX_BODY_BYTES: "2048" });
    const declared = await edge(new Request("http://gw/batch/create", { method: "POST", headers: { "content-type": "application/json", "x-request-id": "big-1" }, body: "x".repeat(2049) }));
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: "body_too_large", error_description: "The request body is larger than 2048 bytes.", error_code: 1007, request_id: "big-1" });
    expect(declared.headers.get("x-request-id")).toBe("big-1");

    const streamed = await edge(new Request("http://gw/v2/user", { method: "POST", body: streamOf(Array.from({ length: 10 }, () => "y".repeat(300))), duplex: "half" } as RequestInit));
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as any).request_id).toMatch(/^req_/);
    expect(seen).toEqual([]);
    const access = lines.map((l) => JSON.parse(l)).find((l) => l.request_id === "big-1");
    expect(access).toMatchObject({ level: "info", msg: "request", method: "POST", path: "/batch/create", status: 413 });
  });

  it("forwards a body within the limit intact, and bodiless requests as they are", async () => {
    const { edge, seen } = setup({ MAX_BODY_BYTES: "2048" });
    const body = JSON.stringify({ calls: [{ call: "/user", parameters: { note: "é✓".repeat(100) } }] });
    expect(new TextEncoder().encode(body).byteLength).toBeLessThanOrEqual(2048);
    const res = await edge(new Request("http://gw/batch/create?x=1", { method: "POST", headers: { "content-type": "application/json", authorization: "Basic abc" }, body }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("from the object");
    const chunked = await edge(new Request("http://gw/v2/user", { method: "POST", body: streamOf(["{", '"a":', "1}"]), duplex: "half" } as RequestInit));
    expect(chunked.status).toBe(200);
    await edge(new Request("http://gw/healthz"));
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ["POST", "http://gw/batch/create?x=1", body],
      ["POST", "http://gw/v2/user", '{"a":1}'],
      ["GET", "http://gw/healthz", ""],
    ]);
    expect(seen[0].headers.get("authorization")).toBe("Basic abc");
    expect(seen[0].headers.get("content-type")).toBe("application/json");
  });

  it("uses the default 1 MiB limit, and leaves a bad configuration to the object (which names it)", async () => {
    const ok = setup();
    expect((await ok.edge(new Request("http://gw/v2/user", { method: "POST", body: "x".repeat(1024 * 1024) }))).status).toBe(200);
    expect((await ok.edge(new Request("http://gw/v2/user", { method: "POST", body: "x".repeat(1024 * 1024 + 1) }))).status).toBe(413);
    const bad = setup({ CLIENT_RATE_LIMIT_POINTS: "lots" });
    expect((await bad.edge(new Request("http://gw/v2/user", { method: "POST", body: "{}" }))).status).toBe(200);
  });

  it("answers 503 service_unavailable when the object cannot be reached, and logs why", async () => {
    const { edge, lines } = setup({}, async () => {
      throw new Error("Durable Object reset because its code was updated.");
    });
    const res = await edge(new Request("http://gw/batch/create", { method: "POST", headers: { "x-request-id": "down-1" }, body: "{}" }));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: "service_unavailable", error_code: 5002, request_id: "down-1" });
    const err = lines.map((l) => JSON.parse(l)).find((l) => l.level === "error");
    expect(err).toMatchObject({ request_id: "down-1", msg: "gateway object unavailable", err: { message: "Durable Object reset because its code was updated." } });
  });
});
