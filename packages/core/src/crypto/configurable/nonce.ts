import { randomFillSync } from "node:crypto";
import type { NoncePart } from "./options.ts";

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
