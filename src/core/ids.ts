/**
 * @module
 * Identifiers from Web Crypto (secrets are in secrets.ts). Ids are time-ordered (ULID layout) so listings can
 * page by id.
 */

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Random bytes per id. */
const RANDOM_BYTES = 16;
/**
 * Random bytes are drawn 1 KiB at a time and each byte is used once: one getRandomValues call per
 * 64 ids. Filled on first use (Workers allow no random values at module load).
 */
const pool = new Uint8Array(1024);
let used = pool.length;

/** A prefixed, time-ordered id such as `pay_01JD3...` (26 Crockford base32 characters). */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (used + RANDOM_BYTES > pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  let rand = "";
  for (let i = used; i < used + RANDOM_BYTES; i++) rand += CROCKFORD[pool[i] & 31];
  used += RANDOM_BYTES;
  return `${prefix}_${time}${rand}`;
}
