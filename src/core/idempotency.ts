/**
 * @module
 * Idempotency keys (DESIGN §1.5, after the IETF httpapi Idempotency-Key draft and Stripe):
 * the first completed response to a key, within its scope, is stored and replayed; the same key
 * with a different request is idempotency_key_reused (422); the same key while the first is
 * still running is idempotency_key_in_use (409). A claim is taken atomically before anything
 * runs; a request rejected before it executed releases its claim, so nothing is stored for it.
 *
 * A claim is a lease of `leaseMs`, renewed every `leaseMs / 3` while its owner works (including a
 * timed-out call still settling in the background), and no longer once it finishes or abandons.
 * So a crashed owner blocks its key for at most one lease; a live owner keeps it however long the
 * work takes, up to `maxHoldMs`, after which it stops renewing so a stuck handler cannot block
 * the key forever.
 */
import type { ClaimRef, IdempotencyStore, StoredResponse } from "../ports/idempotency.js";
import type { Clock, Logger, SecretHasher } from "../ports/runtime.js";
import { canonicalJson } from "./canonical-json.js";
import { type EffectOf, effectRef } from "./effect-ref.js";
import { GatewayError } from "./errors.js";

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface IdempotencyOptions {
  retentionMs: number;
  /** How long a claim blocks its key unless its owner renews it. */
  leaseMs: number;
  /** The longest an owner keeps renewing (the longest a request can run, plus a margin). */
  maxHoldMs: number;
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

  /** The stable id of a request's effects under a key (src/core/effect-ref.ts). */
  async effectRef(of: EffectOf): Promise<string> {
    return effectRef((text) => this.hasher.sha256Hex(text), of);
  }

  /**
   * Claims `key` in `scope`, or returns the stored response to replay. Throws
   * idempotency_key_reused (another request used the key) or idempotency_key_in_use.
   */
  async begin(scope: string, key: string, fingerprint: string): Promise<IdempotencyBegin> {
    const now = this.clock.now();
    this.maybePurge(now);
    const ref: ClaimRef = { scope, key, fingerprint, owner: crypto.randomUUID() };
    const { leaseMs, retentionMs } = this.options;
    const claim = await this.store.claim({ ...ref, now, leaseMs, retentionMs });
    if (claim.kind !== "claimed" && claim.fingerprint !== fingerprint) throw new GatewayError("idempotency_key_reused");
    if (claim.kind === "in_flight") throw new GatewayError("idempotency_key_in_use");
    if (claim.kind === "completed") return { kind: "replay", response: claim.response };
    const lease = this.keepRenewing(ref, now);
    let settled = false;
    return {
      kind: "claimed",
      finish: async (response) => {
        if (settled) return;
        settled = true;
        lease.stop();
        const stored = await this.store.complete(ref, response, this.clock.now(), retentionMs);
        if (!stored) this.logger.warn({ scope, key }, "idempotency claim lost before completion; response not stored");
      },
      abandon: async () => {
        if (settled) return;
        settled = true;
        lease.stop();
        await this.store.release(ref);
      },
    };
  }

  /**
   * Renews the lease every leaseMs / 3 until stop(), a renewal reports the claim lost, or maxHoldMs
   * has passed. A failed renewal (store unreachable) is retried at the next tick: the lease
   * covers two missed renewals.
   */
  private keepRenewing(ref: ClaimRef, since: number): { stop(): void } {
    const { leaseMs, maxHoldMs } = this.options;
    let stopped = false;
    const timer = setInterval(() => {
      const now = this.clock.now();
      if (now - since >= maxHoldMs) {
        this.logger.warn({ scope: ref.scope, key: ref.key }, "idempotency claim held too long; no longer renewed");
        return stop();
      }
      this.store.renew(ref, now, leaseMs).then(
        (held) => {
          if (!held && !stopped) {
            this.logger.warn({ scope: ref.scope, key: ref.key }, "idempotency claim lost; no longer renewed");
            stop();
          }
        },
        (e: unknown) => this.logger.warn({ err: String(e) }, "idempotency lease renewal failed"),
      );
    }, Math.max(1, Math.floor(leaseMs / 3)));
    const stop = () => {
      stopped = true;
      clearInterval(timer);
    };
    return { stop };
  }

  private maybePurge(now: number) {
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    this.store.purgeExpired(now).catch((e: unknown) => this.logger.warn({ err: String(e) }, "idempotency purge failed"));
  }
}
