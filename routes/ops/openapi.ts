/**
 * @module
 * GET /openapi.json: the OpenAPI 3.1 document generated from the routes' zod schemas, built once
 * on first request (the routes do not change after the app is made).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { AppEnv } from "../../src/http/env.js";
import { ClassicError, ErrorCode, V1Error } from "../schemas.js";

const openapiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  tags: ["Operations"],
  summary: "This document",
  responses: { 200: { description: "OpenAPI 3.1", content: { "application/json": { schema: z.record(z.string(), z.unknown()) } } } },
});

const DESCRIPTION = `Batchgate runs many API calls in one HTTP request (\`POST /batch/create\`), each with its own end-user access token and reference id, or one call alone (\`POST /v2/<call>\`).

**Errors** come from one closed catalog (schema \`ErrorCode\`). On \`/batch/create\` and \`/v2/*\` they are \`ClassicError\` bodies; on \`/v1/*\` they are \`V1Error\` bodies. A call's error inside a batch is that call's result (\`CallError\`), never the batch's.

**Authentication**: a batch is sent by an API client, with HTTP Basic (\`basicAuth\`) or with \`client_id\` and \`client_secret\` in the JSON body (OpenAPI has no security scheme for body fields, so the envelope schema describes them); each call carries an end user's access token. A single call carries the access token as \`Authorization: Bearer\` (\`bearerAuth\`).

**Rate limits**: responses carry \`RateLimit-Policy\` and \`RateLimit\`; a 429 adds \`Retry-After\`.`;

export function registerOpenApi<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "basicAuth", {
    type: "http",
    scheme: "basic",
    description: "API client credentials for batches: client id as the user name, client secret as the password. The same credentials may instead be sent in the body as client_id and client_secret.",
  });
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", description: "An end user's access token, for single calls." });
  registry.register("ErrorCode", ErrorCode);
  registry.register("ClassicError", ClassicError);
  registry.register("V1Error", V1Error);

  let document: unknown;
  return app.openapi(openapiRoute, (c) => {
    document ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: { title: "Batchgate", version: "0.1.0", description: DESCRIPTION },
      tags: [
        { name: "Batch", description: "Many calls in one request" },
        { name: "Calls", description: "Built-in calls, alone" },
        { name: "Upstream calls", description: "Calls the operator forwards to internal services" },
        { name: "Operations", description: "Health, readiness, this document" },
      ],
    });
    return c.json(document as Record<string, unknown>, 200);
  });
}
