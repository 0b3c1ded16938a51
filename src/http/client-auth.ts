/**
 * @module
 * Authenticating an API client on a request: its credentials in the body (the classic batch) or
 * HTTP Basic (`client_id:client_secret`), verified by the Authenticator.
 */
import type { Context } from "hono";
import { type AuthSession, parseBasicAuth } from "../core/auth.js";
import { GatewayError } from "../core/errors.js";
import type { ClientRecord } from "../ports/credentials.js";
import type { AppEnv } from "./env.js";

/** A client id as sent (number or digits): the number, or null when it is not one. */
function clientIdOf(id: unknown): number | null {
  const n = typeof id === "number" ? id : typeof id === "string" && /^\d{1,19}$/.test(id) ? Number(id) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Client credentials from the body (classic) or HTTP Basic; when both are given they must agree. */
export async function authenticateClient(c: Context<AppEnv>, body: Record<string, unknown>): Promise<ClientRecord> {
  const { clientId, secret } = clientCredentials(c, body);
  return c.get("services").auth.verifyClient(clientId, secret);
}

/**
 * authenticateClient for a batch the engine admits: the client may be verified provisionally
 * from the client cache, with `confirm` for the batch's RunContext (Authenticator.verifyBatchClient).
 */
export async function authenticateBatchClient(
  c: Context<AppEnv>,
  body: Record<string, unknown>,
): Promise<{ client: ClientRecord; confirm?: (session: AuthSession | undefined) => void }> {
  const { clientId, secret } = clientCredentials(c, body);
  return c.get("services").auth.verifyBatchClient(clientId, secret);
}

function clientCredentials(c: Context<AppEnv>, body: Record<string, unknown>): { clientId: number; secret: string } {
  const basic = parseBasicAuth(c.req.header("authorization"));
  const inBody = body.client_id !== undefined || body.client_secret !== undefined;
  if (!inBody && !basic) {
    throw new GatewayError("invalid_client", "Client credentials are required: client_id and client_secret in the body, or HTTP Basic.");
  }
  let id: unknown = basic?.clientId;
  let secret: unknown = basic?.secret;
  if (inBody) {
    if (basic && (String(body.client_id) !== basic.clientId || body.client_secret !== basic.secret)) {
      throw new GatewayError("invalid_client", "The client credentials in the body and in HTTP Basic differ.");
    }
    id = body.client_id;
    secret = body.client_secret;
  }
  if (typeof secret !== "string" || secret.length === 0 || secret.length > 255) {
    throw new GatewayError("invalid_envelope", "client_secret must be a string of 1 to 255 characters.");
  }
  const clientId = clientIdOf(id);
  if (clientId === null) {
    if (typeof id === "number" || (typeof id === "string" && /^\d+$/.test(id))) throw new GatewayError("invalid_client");
    throw new GatewayError("invalid_envelope", "client_id must be an integer.");
  }
  return { clientId, secret };
}

/** The client from HTTP Basic only (the /v1 surface); sets `clientId` for the access log. */
export async function authenticateBasicClient(c: Context<AppEnv>): Promise<ClientRecord> {
  const basic = parseBasicAuth(c.req.header("authorization"));
  const challenge = { "WWW-Authenticate": 'Basic realm="batchgate"' };
  if (!basic) throw new GatewayError("invalid_client", "Client credentials are required as HTTP Basic (client_id:client_secret).", challenge);
  const clientId = clientIdOf(basic.clientId);
  if (clientId === null || basic.secret.length === 0 || basic.secret.length > 255) throw new GatewayError("invalid_client", undefined, challenge);
  try {
    const client = await c.get("services").auth.verifyClient(clientId, basic.secret);
    c.set("clientId", client.clientId);
    return client;
  } catch (e) {
    if (e instanceof GatewayError && e.code === "invalid_client") throw new GatewayError("invalid_client", e.message, challenge);
    throw e;
  }
}
