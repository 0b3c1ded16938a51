/**
 * @module
 * Identifiers from Web Crypto (secrets are in secrets.ts). Ids are time-ordered (ULID layout) so listings can
 * page by id.
 */

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A prefixed, time-ordered id such as `pay_01JD3...` (26 Crockford base32 characters). */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let rand = "";
  for (let i = 0; i < 16; i++) rand += CROCKFORD[bytes[i] & 31];
  return `${prefix}_${time}${rand}`;
}
