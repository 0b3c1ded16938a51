/**
 * @module
 * `new Date(ms).toISOString()` without a Date per call: the civil date from the day number
 * (Howard Hinnant's days-to-civil), the time of day by division. Same text for every instant
 * from 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z; anything else (earlier, later, not a
 * whole number) goes to toISOString, which also throws RangeError for what is not a time.
 */

const MS_PER_DAY = 86_400_000;
/** 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
const LAST = 253_402_300_799_999;
const TWO = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : String(i)));

/** The day last formatted, and its `YYYY-MM-DDT` prefix: most instants formatted together share a day. */
let lastDay = -1;
let lastPrefix = "";

function datePrefix(day: number): string {
  const z = day + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${y}-${TWO[m]}-${TWO[d]}T`;
}

/** The instant (epoch ms) as `YYYY-MM-DDTHH:mm:ss.sssZ`, exactly as Date#toISOString writes it. */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST) return new Date(ms).toISOString();
  const day = Math.floor(ms / MS_PER_DAY);
  if (day !== lastDay) {
    lastPrefix = datePrefix(day);
    lastDay = day;
  }
  let rest = ms - day * MS_PER_DAY;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const min = Math.floor(rest / 60_000);
  rest -= min * 60_000;
  const s = Math.floor(rest / 1000);
  const milli = rest - s * 1000;
  return `${lastPrefix}${TWO[h]}:${TWO[min]}:${TWO[s]}.${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
}
