/**
 * The SSRF guard runs again before every attempt: an endpoint registered while its name resolved
 * to a public address is not called once the name resolves to a private one, and a resolver that
 * hangs cannot hold an attempt past its timeout. A stub resolver stands in for DNS and a recording
 * fetch for the network, because the public addresses involved cannot be reached from here.
 */
import { describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import { createSecretBox } from "../../src/core/secret-box.js";
import { WebhookService } from "../../src/core/webhooks.js";
import type { Logger } from "../../src/ports/runtime.js";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function setup(resolve: (host: string) => Promise<string[]>) {
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  const calls: string[] = [];
  const service = new WebhookService({
    store: store.webhooks,
    clock: { now: () => Date.now() },
    logger: silent,
    fetch: (async (url: string) => {
      calls.push(url);
      return new Response("ok");
    }) as unknown as typeof fetch,
    resolver: { resolve },
    box: createSecretBox("k".repeat(40)),
    options: { timeoutMs: 200, retrySchedule: [60_000], rotationGraceMs: 0, concurrency: 4, allowPrivateUrls: false },
    wake: () => undefined,
  });
  return { store, service, calls };
}

describe("the SSRF guard at delivery", () => {
  it("does not call an endpoint whose name now resolves to a private address; the attempt is recorded and retried", async () => {
    let answer = ["93.184.216.34"];
    const { store, service, calls } = setup(async () => answer);
    const { endpoint } = await service.createEndpoint(100001, { url: "https://hooks.example.com/in" });
    answer = ["10.0.0.7"];
    await service.emit({ id: "evt_1", clientId: 100001, type: "batch.completed", data: {}, createdAt: Date.now() });
    await service.pump(Date.now());
    expect(calls).toEqual([]);
    const page = await service.listAttempts(100001, endpoint.endpointId, { limit: 10 });
    expect(page.attempts).toHaveLength(1);
    expect(page.attempts[0]).toMatchObject({ outcome: "retrying", statusCode: null });
    expect(page.attempts[0].error).toMatch(/URL refused: .*10\.0\.0\.7/);
    // Public again: the retry goes out.
    answer = ["93.184.216.34"];
    await store.webhooks.resend(page.attempts[0].messageId, Date.now());
    await service.pump(Date.now());
    expect(calls).toEqual(["https://hooks.example.com/in"]);
    await store.close();
  });

  it("bounds a hanging resolver by the timeout, at registration and at delivery", async () => {
    let hang = false;
    const { store, service, calls } = setup((host) => (hang ? new Promise<string[]>(() => undefined) : Promise.resolve(host ? ["93.184.216.34"] : [])));
    const { endpoint } = await service.createEndpoint(100001, { url: "https://hooks.example.com/in" });
    hang = true;
    await expect(service.createEndpoint(100001, { url: "https://other.example.com/in" })).rejects.toMatchObject({ code: "webhook_url_not_allowed" });
    await service.emit({ id: "evt_2", clientId: 100001, type: "batch.completed", data: {}, createdAt: Date.now() });
    await service.pump(Date.now());
    expect(calls).toEqual([]);
    const [a] = (await service.listAttempts(100001, endpoint.endpointId, { limit: 10 })).attempts;
    expect(a.error).toMatch(/timeout/);
    await store.close();
  });
});
