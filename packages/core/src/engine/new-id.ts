import { randomFillSync } from "node:crypto";
import { DateTime } from "luxon";
import { monotonicFactory } from "ulid";

// ulid's default generator asks the OS for one random byte per character; a pooled buffer gives
// the same randomness (crypto-grade) for a fraction of the cost on the hot path.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function pooledRandom(): number {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  return pool[offset++]! / 256;
}

/** Time-ordered unique ids (ULID): instance ids, serial numbers, inbox entries. */
export const newId: (time?: number) => string = monotonicFactory(pooledRandom);

/**
 * A request serial number: `yyyyMMdd` in the channel's time zone + 16 random digits (the shape
 * partners commonly accept: digits only, dated, 24 characters). Kept with the attempt, so a resend
 * carries the same one; templates get it through `{{serialNo 'PREFIX'}}`.
 */
export function newSerial(time: number, timeZone: string): string {
  const date = dayIn(time, timeZone);
  let digits = "";
  while (digits.length < 16) {
    const byte = Math.floor(pooledRandom() * 256);
    // 250 = 25 * 10: bytes above it would favour low digits.
    if (byte < 250) digits += String(byte % 10);
  }
  return `${date}${digits}`;
}

/** The day a serial carries, per time zone, with the instants it holds for (start inclusive). */
const days = new Map<string, { text: string; from: number; until: number }>();

/**
 * `yyyyMMdd` of `time` in `timeZone`. Converting through the zone's rules costs tens of
 * microseconds, once per call step; the date changes once a day, so it is computed again only
 * when `time` leaves the day last computed.
 */
function dayIn(time: number, timeZone: string): string {
  const known = days.get(timeZone);
  if (known !== undefined && time >= known.from && time < known.until) return known.text;
  const at = DateTime.fromMillis(time, { zone: timeZone });
  const start = at.startOf("day");
  const day = {
    text: at.toFormat("yyyyMMdd"),
    from: start.toMillis(),
    until: start.plus({ days: 1 }).toMillis(),
  };
  // A zone luxon cannot read gives an invalid DateTime (NaN bounds): never cached, as before.
  if (Number.isFinite(day.from) && Number.isFinite(day.until)) days.set(timeZone, day);
  return day.text;
}
