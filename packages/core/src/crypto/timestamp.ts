import { randomFillSync } from "node:crypto";
import { DateTime } from "luxon";
import type { NoncePart, TimestampPart } from "./configurable-options.ts";

/** Timestamps written into sealed messages and checked against a replay window on opened ones. */
export interface TimestampCodec {
  format(ms: number): string;
  /** Milliseconds since the epoch, or undefined when the text is not a timestamp of this format. */
  parse(text: string): number | undefined;
}

export function createTimestampCodec(part: TimestampPart): TimestampCodec {
  const zone = part.timeZone ?? "Asia/Shanghai";
  switch (part.format ?? "unixSeconds") {
    case "unixSeconds":
      return {
        format: (ms) => String(Math.floor(ms / 1000)),
        parse: (text) => (/^\d{1,12}$/.test(text) ? Number(text) * 1000 : undefined),
      };
    case "unixMillis":
      return {
        format: (ms) => String(ms),
        parse: (text) => (/^\d{1,15}$/.test(text) ? Number(text) : undefined),
      };
    case "iso8601":
      return {
        format: (ms) =>
          DateTime.fromMillis(ms, { zone }).toISO({ suppressMilliseconds: true }) ?? "",
        parse: (text) => validMillis(DateTime.fromISO(text, { zone })),
      };
    case "pattern": {
      const pattern = part.pattern ?? "yyyyMMddHHmmss";
      return {
        format: (ms) => DateTime.fromMillis(ms, { zone }).toFormat(pattern),
        parse: (text) => validMillis(DateTime.fromFormat(text, pattern, { zone })),
      };
    }
  }
}

function validMillis(dt: DateTime): number | undefined {
  return dt.isValid ? dt.toMillis() : undefined;
}

const alphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * Random bytes drawn from a 4 KiB pool refilled from the CSPRNG, as `crypto.randomUUID` does:
 * one `randomFillSync` call per ~100 nonces instead of one per nonce (a measurable share of a
 * digest-signed message's cost).
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomByte(): number {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++] ?? 0;
}

/** A random nonce; alphanumeric with rejection sampling, so every character is equally likely. */
export function createNonce(part: NoncePart): string {
  const length = part.length ?? 32;
  const hex = part.alphabet === "hex";
  const out = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const byte = randomByte();
    // 248 = 4 x 62: larger bytes are dropped so every character is equally likely.
    if (hex) out[filled++] = hexDigits.charCodeAt(byte & 15);
    else if (byte < 248) out[filled++] = alphanumeric.charCodeAt(byte % 62);
  }
  return out.toString("latin1");
}

const hexDigits = "0123456789abcdef";

/** Parses `5m`-style durations of the replay window. */
export function durationMillis(duration: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(duration);
  if (match === null) throw new TypeError(`not a duration: ${duration}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "ms"];
  return Number(match[1]) * unit;
}
