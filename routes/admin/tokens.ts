/**
 * @module
 * POST /admin/v1/users/{user_id}/tokens, GET /admin/v1/users/{user_id}/tokens,
 * POST /admin/v1/tokens/{token_id}/revoke: users' access tokens. A token is shown once, when
 * issued; listings never show it. A revoked token fails invalid_token on its next call.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { SCOPES } from "../../src/core/call-contract.js";
import type { AppEnv } from "../../src/http/env.js";
import {
  actorOf,
  adminErrors,
  AdminToken,
  AdminTokenWithSecret,
  body,
  json,
  ListQuery,
  listOf,
  pageRequest,
  renderList,
  SECURITY,
  TAG,
  TokenIdParam,
  tokenView,
  UserIdParam,
} from "./schemas.js";

export const IssueTokenBody = z.strictObject({
  scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length * 2).describe("What the token may do"),
  expires_at: z.iso.datetime({ offset: true }).optional().describe("ISO 8601, in the future; omitted: the token does not expire"),
});

const issue = createRoute({
  method: "post",
  path: "/admin/v1/users/{user_id}/tokens",
  tags: [TAG],
  summary: "Issue an access token for a user (shown once)",
  security: SECURITY,
  request: { params: UserIdParam, body: body(IssueTokenBody) },
  responses: { 201: json(AdminTokenWithSecret, "The token's record, with the token"), ...adminErrors([400, 415]) },
});

const list = createRoute({
  method: "get",
  path: "/admin/v1/users/{user_id}/tokens",
  tags: [TAG],
  summary: "List a user's tokens, newest first (never the tokens themselves)",
  security: SECURITY,
  request: { params: UserIdParam, query: ListQuery },
  responses: { 200: json(listOf(AdminToken, "AdminTokenList"), "A page of tokens"), ...adminErrors([400]) },
});

const revoke = createRoute({
  method: "post",
  path: "/admin/v1/tokens/{token_id}/revoke",
  tags: [TAG],
  summary: "Revoke a token: its next call fails invalid_token, on every instance",
  security: SECURITY,
  request: { params: TokenIdParam },
  responses: { 200: json(AdminToken, "The revoked token (revoking again answers it unchanged)"), ...adminErrors([400]) },
});

export function registerAdminTokens<S extends Schema>(app: OpenAPIHono<AppEnv, S>) {
  return app
    .openapi(issue, async (c) => {
      const b = c.req.valid("json");
      const admin = c.get("services").admin;
      const expiresAt = b.expires_at === undefined ? null : Date.parse(b.expires_at);
      const { token, accessToken } = await admin.issueToken(c.req.valid("param").user_id, { scopes: b.scopes, expiresAt }, actorOf(c));
      return c.json({ ...tokenView(token, admin.now()), access_token: accessToken }, 201);
    })
    .openapi(list, async (c) => {
      const admin = c.get("services").admin;
      const page = await admin.listTokens(c.req.valid("param").user_id, pageRequest(c.req.valid("query")));
      const now = admin.now();
      return c.json(renderList(page, (t) => tokenView(t, now), (v) => v.token_id), 200);
    })
    .openapi(revoke, async (c) => {
      const admin = c.get("services").admin;
      const token = await admin.revokeToken(c.req.valid("param").token_id, actorOf(c));
      return c.json(tokenView(token, admin.now()), 200);
    });
}
