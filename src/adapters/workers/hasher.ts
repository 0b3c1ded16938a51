/**
 * @module
 * SHA-256 through Web Crypto for Workers, where `crypto.subtle.digest` is native and cheap (on
 * Node the synchronous node:crypto hasher is used instead; see src/adapters/node/hasher.ts).
 */
import type { SecretHasher } from "../../ports/runtime.js";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const encoder = new TextEncoder();

export const webCryptoHasher: SecretHasher = {
  async sha256Hex(text) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
    let hex = "";
    for (const b of digest) hex += HEX[b];
    return hex;
  },
};
