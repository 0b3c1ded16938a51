/**
 * @module
 * Development-only routes for the local worker (`npm run dev:worker` and the contract tests). They
 * exist only when the DEV_ROUTES_TOKEN variable is set — the dev script generates a random one per
 * run — and every request must carry `Authorization: Bearer <DEV_ROUTES_TOKEN>`. Never set that
 * variable on a deployed worker.
 *
 * - `POST /__dev/seed`: seeds the demo data (seedDemoData, DEMO_USERS users) into the object's
 *   store and answers the plaintext credentials once (200 `{"status":"seeded","credentials"}`);
 *   a store seeded before answers 409 `{"status":"already_seeded"}`. This is how the worker gets
 *   the same demo data as `npm start`, whose entry point seeds before it listens.
 * - `POST /__dev/tokens` `{"user_id","scopes":[…],"expires_at"?,"revoked"?}`: issues an access token
 *   for an existing user (201 `{"access_token"}`), so tests can exercise scopes, expiry and
 *   revocation over HTTP as they do on Node by writing the SQLite file.
 * - `POST /__dev/events` `{"id","client_id","type","data"}`: emits an event into the webhook outbox
 *   (202), as the asynchronous batch runner does, so tests can exercise webhook delivery from the
 *   worker.
 *
 * Registered by the worker adapter around the app, not in routes/: the public surface is unchanged.
 */
import { z } from "zod";
import { SCOPES } from "../../core/call-contract.js";
import { newId } from "../../core/ids.js";
import { newSecret, timingSafeEqual } from "../../core/secrets.js";
import type { ErrorCode } from "../../core/errors.js";
import { renderError } from "../../http/errors.js";
import { seedDemoData } from "../../demo-data.js";
import { EVENT_TYPES, type EventSink } from "../../ports/events.js";
import type { Clock, SecretHasher } from "../../ports/runtime.js";
import type { Store } from "../../ports/store.js";

export const DEV_ROUTE_PREFIX = "/__dev/";

export interface DevRoutesDeps {
  token: string;
  store: Store;
  hasher: SecretHasher;
  demoUsers: number;
  clock: Clock;
  events?: EventSink;
}

const EventRequestSchema = z.strictObject({
  id: z.string().min(1).max(255),
  client_id: z.number().int().nonnegative(),
  type: z.enum(EVENT_TYPES),
  data: z.record(z.string(), z.unknown()),
});

const TokenRequestSchema = z.strictObject({
  user_id: z.string().min(1).max(255),
  scopes: z.array(z.enum(SCOPES)).max(SCOPES.length),
  expires_at: z.number().int().nullable().optional(),
  revoked: z.boolean().optional(),
});

function errorResponse(code: ErrorCode, message?: string): Response {
  return renderError({ code, message }, "classic", newId("req"));
}

/** Returns a handler for /__dev/* requests; anything else is not its business (null). */
export function devRoutes(deps: DevRoutesDeps): (request: Request) => Promise<Response | null> {
  let seeding: Promise<unknown> | null = null;

  return async (request) => {
    const path = new URL(request.url).pathname;
    if (!path.startsWith(DEV_ROUTE_PREFIX)) return null;
    const given = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
    if (!timingSafeEqual(given, deps.token)) return errorResponse("invalid_token", "The dev routes need Authorization: Bearer <DEV_ROUTES_TOKEN>.");
    if (request.method !== "POST") return errorResponse("method_not_allowed");

    if (path === "/__dev/seed") {
      // One object serializes requests, but seeding awaits hashing: refuse a second one meanwhile.
      if (seeding) return Response.json({ status: "already_seeded" }, { status: 409 });
      const run = seedDemoData(deps.store, deps.hasher, { users: deps.demoUsers, clock: deps.clock });
      seeding = run;
      const creds = await run.catch((e) => {
        seeding = null;
        throw e;
      });
      if (!creds) return Response.json({ status: "already_seeded" }, { status: 409 });
      return Response.json({ status: "seeded", credentials: creds });
    }

    if (path === "/__dev/tokens") {
      let body: unknown;
      try {
        body = await request.json();
      } catch {
        return errorResponse("invalid_json");
      }
      const parsed = TokenRequestSchema.safeParse(body);
      if (!parsed.success) return errorResponse("invalid_body", parsed.error.issues[0]?.message);
      const req = parsed.data;
      if (!(await deps.store.ledger.getUser(req.user_id))) return errorResponse("not_found", "No such user.");
      const accessToken = newSecret("at_");
      await deps.store.tokens.createToken({
        tokenHash: await deps.hasher.sha256Hex(accessToken),
        userId: req.user_id,
        scopes: req.scopes,
        expiresAt: req.expires_at ?? null,
        revoked: req.revoked ?? false,
        createdAt: deps.clock.now(),
      });
      return Response.json({ access_token: accessToken }, { status: 201 });
    }

    if (path === "/__dev/events" && deps.events) {
      let body: unknown;
      try {
        body = await request.json();
      } catch {
        return errorResponse("invalid_json");
      }
      const parsed = EventRequestSchema.safeParse(body);
      if (!parsed.success) return errorResponse("invalid_body", parsed.error.issues[0]?.message);
      const e = parsed.data;
      await deps.events.emit({ id: e.id, clientId: e.client_id, type: e.type, data: e.data, createdAt: deps.clock.now() });
      return Response.json({ status: "emitted" }, { status: 202 });
    }

    return errorResponse("route_not_found", `No endpoint ${request.method} ${path}.`);
  };
}
