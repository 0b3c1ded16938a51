import { describe, expect, it } from "vitest";
import { makeGateway } from "../helpers/gateway.js";

describe("health", () => {
  it("/healthz is up; /readyz follows the store", async () => {
    const gw = await makeGateway({ users: 1 });
    const h = await gw.app.request("/healthz");
    expect(h.status).toBe(200);
    expect(h.headers.get("x-request-id")).toMatch(/^req_/);
    expect(((await gw.app.request("/readyz")).status)).toBe(200);
    await gw.services.store.close();
    const r = await gw.app.request("/readyz");
    expect(r.status).toBe(503);
    expect(((await r.json()) as any).status).toBe("unavailable");
  });

  it("echoes a well-formed X-Request-Id and replaces a malformed one", async () => {
    const gw = await makeGateway({ users: 1 });
    expect((await gw.app.request("/healthz", { headers: { "x-request-id": "abc-123" } })).headers.get("x-request-id")).toBe("abc-123");
    const bad = await gw.app.request("/healthz", { headers: { "x-request-id": "bad id\twith junk" } });
    expect(bad.headers.get("x-request-id")).toMatch(/^req_/);
  });
});
