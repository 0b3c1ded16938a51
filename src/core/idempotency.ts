/**
 * @module
 * Idempotency keys (DESIGN §1.5, after the IETF httpapi Idempotency-Key draft and Stripe):
 * the first completed response to a key, within its scope, is stored and replayed; the same key
 * with a different request is idempotency_key_reused (422); the same key while the first is
 * still running is idempotency_key_in_use (409). A claim is taken atomically before anything
 * runs; a request rejected before it executed releases its claim, so nothing is stored for it.
 */
import type { IdempotencyStore, StoredResponse } from "../ports/idempotency.js";
import type { Clock, Logger, SecretHasher } from "../ports/runtime.js";
import { canonicalJson } from "./canonical-json.js";
import { GatewayError } from "./errors.js";

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface IdempotencyOptions {
  retentionMs: number;
  /** How long an unfinished claim blocks its key; must outlast the longest request. */
  inFlightMs: number;
}

/** A claimed key: finish() stores the response, abandon() releases the claim. */
export interface IdempotencyClaim {
  kind: "claimed";
  finish(response: StoredResponse): Promise<void>;
  abandon(): Promise<void>;
}

export type IdempotencyBegin = IdempotencyClaim | { kind: "replay"; response: StoredResponse };

const PURGE_EVERY_MS = 60_000;

export class Idempotency {
  private lastPurge = 0;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly hasher: SecretHasher,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly options: IdempotencyOptions,
  ) {}

  /** Throws invalid_idempotency_key unless the key is 1..255 visible ASCII characters. */
  static validateKey(key: string): string {
    if (!IDEMPOTENCY_KEY.test(key)) throw new GatewayError("invalid_idempotency_key");
    return key;
  }

  /** Fingerprint of what a request asks for: hash of its parts, objects in canonical form. */
  async fingerprint(...parts: unknown[]): Promise<string> {
    return this.hasher.sha256Hex(parts.map((p) => (typeof p === "string" ? p : canonicalJson(p))).join("\n"));
  }

  /**
   * Claims `key` in `scope`, or returns the stored response to replay. Throws
   * idempotency_key_reused (another request used the key) or idempotency_key_in_use.
   */
  async begin(scope: string, key: string, fingerprint: string): Promise<IdempotencyBegin> {
    const now = this.clock.now();
    this.maybePurge(now);
    const claim = await this.store.claim({ scope, key, fingerprint, now, inFlightMs: this.options.inFlightMs, retentionMs: this.options.retentionMs });
    if (claim.kind !== "claimed" && claim.fingerprint !== fingerprint) throw new GatewayError("idempotency_key_reused");
    if (claim.kind === "in_flight") throw new GatewayError("idempotency_key_in_use");
    if (claim.kind === "completed") return { kind: "replay", response: claim.response };
    let settled = false;
    return {
      kind: "claimed",
      finish: async (response) => {
        if (settled) return;
        settled = true;
        await this.store.complete(scope, key, fingerprint, response, this.clock.now(), this.options.retentionMs);
      },
      abandon: async () => {
        if (settled) return;
        settled = true;
        await this.store.release(scope, key, fingerprint);
      },
    };
  }

  private maybePurge(now: number) {
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    this.store.purgeExpired(now).catch((e: unknown) => this.logger.warn({ err: String(e) }, "idempotency purge failed"));
  }
}
