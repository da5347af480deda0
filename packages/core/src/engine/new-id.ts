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
  const date = DateTime.fromMillis(time, { zone: timeZone }).toFormat("yyyyMMdd");
  let digits = "";
  while (digits.length < 16) {
    const byte = Math.floor(pooledRandom() * 256);
    // 250 = 25 * 10: bytes above it would favour low digits.
    if (byte < 250) digits += String(byte % 10);
  }
  return `${date}${digits}`;
}
