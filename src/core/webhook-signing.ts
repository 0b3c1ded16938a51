/**
 * @module
 * Standard Webhooks signatures (standardwebhooks.com) on Web Crypto: a secret `whsec_<base64>`,
 * headers `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256
 * of "id.timestamp.body">`. Receivers verify with any Standard Webhooks library.
 */

const PREFIX = "whsec_";

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A new signing secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** Signs `body` (the exact bytes sent) for message `id` at `timestampSeconds`. */
export async function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): Promise<SignedHeaders> {
  if (!secret.startsWith(PREFIX)) throw new TypeError("a webhook secret starts with whsec_");
  const key = await crypto.subtle.importKey("raw", fromBase64(secret.slice(PREFIX.length)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": `v1,${toBase64(new Uint8Array(mac))}`,
  };
}
