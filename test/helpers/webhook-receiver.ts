/**
 * A real webhook receiver on 127.0.0.1 for the tests: records every request (headers, exact body,
 * arrival time) and answers from a script, one behaviour per request (then the default).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

export type Behaviour = "ok" | "hang" | { status: number; headers?: Record<string, string> };

export async function startReceiver(defaultBehaviour: Behaviour = "ok") {
  const received: Received[] = [];
  const script: Behaviour[] = [];
  let fallback: Behaviour = defaultBehaviour;
  const hanging = new Set<ServerResponse>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    received.push({ path: req.url ?? "/", headers, body, at: Date.now() });
    const b = script.shift() ?? fallback;
    if (b === "hang") {
      hanging.add(res);
      return;
    }
    const status = b === "ok" ? 200 : b.status;
    res.writeHead(status, { "content-type": "text/plain", ...(b === "ok" ? {} : b.headers) });
    res.end(status < 300 ? "thanks" : "nope");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    /** Behaviours for the next requests, in order. */
    answer: (...b: Behaviour[]) => script.push(...b),
    setDefault: (b: Behaviour) => (fallback = b),
    close: () =>
      new Promise<void>((r) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Verifies a received request with the independent standardwebhooks package; returns the payload. */
export function verifyWith(secret: string, r: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(r.body, r.headers) as never;
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
