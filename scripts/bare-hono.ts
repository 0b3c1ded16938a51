/**
 * @module
 * The bare Hono baseline for `npm run bench`: a trivial Hono app on @hono/node-server that
 * answers a small JSON POST (POST /echo: parse the body, answer one small object). No auth, no
 * store, no logging: what one HTTP request costs on this stack, measured in the same run as the
 * gateway. PORT and HOST from the environment.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.post("/echo", async (c) => {
  const body = (await c.req.json()) as { wallet_id?: unknown };
  return c.json({ ok: true, wallet_id: typeof body.wallet_id === "string" ? body.wallet_id : null });
});
app.get("/readyz", (c) => c.json({ ok: true }));

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: process.env.HOST ?? "127.0.0.1" });
process.on("SIGTERM", () => server.close(() => process.exit(0)));
