/**
 * @module
 * SHA-256 through node:crypto: synchronous and about 40x cheaper per call than Web Crypto's
 * digest on Node (measured: ~1 µs vs ~38 µs), which matters at one hash per batched call.
 */
import { createHash } from "node:crypto";
import type { SecretHasher } from "../../ports/runtime.js";

export const nodeHasher: SecretHasher = {
  sha256Hex: (text) => createHash("sha256").update(text, "utf8").digest("hex"),
};
