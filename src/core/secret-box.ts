/**
 * @module
 * Encryption at rest for secrets the gateway must be able to read back (webhook signing secrets:
 * an HMAC needs the secret itself, so it cannot be hashed). AES-256-GCM on Web Crypto, the key
 * being the SHA-256 of the configured key material (WEBHOOK_SECRET_KEY, or on Node with SQLite a
 * random key kept in DATA_DIR). Each value gets a fresh 96-bit IV, and the record it belongs to
 * (the endpoint id) is bound as additional data, so a sealed value copied onto another record
 * does not open.
 *
 * Format: `v1.<iv base64>.<ciphertext+tag base64>`.
 */

export interface SecretBox {
  seal(plain: string, boundTo: string): Promise<string>;
  /** Throws when the value was not sealed with this key for `boundTo`. */
  open(sealed: string, boundTo: string): Promise<string>;
}

/** Minimum length of the key material: a random value such as `openssl rand -base64 32`. */
export const SECRET_KEY_MIN_LENGTH = 32;

const enc = new TextEncoder();

function b64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function unb64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function createSecretBox(keyMaterial: string): SecretBox {
  if (keyMaterial.length < SECRET_KEY_MIN_LENGTH) throw new TypeError(`the key material must be at least ${SECRET_KEY_MIN_LENGTH} characters`);
  const key = (async () => {
    const raw = await crypto.subtle.digest("SHA-256", enc.encode(keyMaterial));
    return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  })();
  return {
    async seal(plain, boundTo) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(boundTo) }, await key, enc.encode(plain));
      return `v1.${b64(iv)}.${b64(new Uint8Array(ct))}`;
    },
    async open(sealed, boundTo) {
      const parts = sealed.split(".");
      if (parts.length !== 3 || parts[0] !== "v1") throw new Error("not a sealed value");
      const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(parts[1]), additionalData: enc.encode(boundTo) }, await key, unb64(parts[2]));
      return new TextDecoder().decode(pt);
    },
  };
}
