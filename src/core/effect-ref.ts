/**
 * @module
 * The stable id of a request's effects under an Idempotency-Key (the `ref` in `pay_<ref>`,
 * `po_<ref>`): the same key and request always give the same ref, so a handler that names what it
 * creates after it cannot create it twice, even if the gateway crashed between the effect and the
 * idempotency record. Derived here only, so every path names effects the same way.
 */

/** Lower-case hex SHA-256 of the UTF-8 text (the runtime's hasher). */
export type Sha256Hex = (text: string) => Promise<string> | string;

export type EffectOf =
  /** A request (a batch, a single call, or one call's own key) under an idempotency key. */
  | { scope: string; key: string; fingerprint: string }
  /** Call `index` of a batch whose own ref is `batchRef`. */
  | { batchRef: string; index: number };

/** Synchronous when the hasher is (Node), so a batch's calls need no promise for it. */
export function effectRef(sha256Hex: Sha256Hex, of: EffectOf): Promise<string> | string {
  if ("batchRef" in of) return sha256Hex(`${of.batchRef}:${of.index}`);
  return sha256Hex(["ref", of.scope, of.key, of.fingerprint].join("\n"));
}
