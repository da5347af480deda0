import { createHash, randomBytes, randomUUID } from "node:crypto";
import { DateTime } from "luxon";
import type { ProcessorContext } from "../processor-types.ts";
import type { BuiltinProcessor } from "./builtin-processor.ts";

/**
 * The serial number of a request, stable for one attempt of one step of one instance, so that a
 * resend of the same attempt carries the same serial and the partner can recognise it.
 *
 * Contract with the engine: it passes `attempt = { instanceId, number, startedAt?, serial? }` and
 * the step code. If `attempt.serial` is set (the engine keeps one per attempt, in the same
 * `yyyyMMdd + 16 digits` shape) the result is `prefix + attempt.serial`. Otherwise the serial is
 * `prefix + yyyyMMdd + 16 digits`, where the date is `attempt.startedAt` (or, without it, the
 * render's `now()`) in the channel's time zone, and the digits are derived from
 * SHA-256(instanceId, step, attempt number): the same triple (and start date) always gives the
 * same serial; different triples practically never collide.
 */
export function serialNumber(ctx: ProcessorContext, prefix = ""): string {
  if (ctx.attempt.serial !== undefined && ctx.attempt.serial !== "")
    return `${prefix}${ctx.attempt.serial}`;
  const date = DateTime.fromMillis(ctx.attempt.startedAt ?? ctx.now(), {
    zone: ctx.channel.timeZone,
  }).toFormat("yyyyMMdd");
  const digest = createHash("sha256")
    .update(`${ctx.attempt.instanceId}\u0000${ctx.step}\u0000${ctx.attempt.number}`)
    .digest();
  const digits = (digest.readBigUInt64BE(0) % 10n ** 16n).toString().padStart(16, "0");
  return `${prefix}${date}${digits}`;
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Random letters and digits from the system CSPRNG, without modulo bias. */
export function randomNonce(length = 16): string {
  if (!Number.isInteger(length) || length < 1 || length > 256) {
    throw new RangeError(`nonce length must be an integer from 1 to 256, got ${length}`);
  }
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes above it would favour the first characters.
      if (byte < 248 && out.length < length) out += alphabet[byte % 62];
    }
  }
  return out;
}

export const identifierProcessors: BuiltinProcessor[] = [
  {
    declaration: {
      name: "serialNo",
      label: "请求流水号",
      description:
        "Request serial number, stable for one attempt of one step of one instance (a resend reuses it).",
      params: [{ name: "prefix", type: "string", optional: true, description: "Channel prefix" }],
      returns: { type: "string", description: "prefix + yyyyMMdd + 16 digits" },
    },
    fn: (ctx: ProcessorContext, prefix?: unknown) =>
      serialNumber(ctx, prefix === undefined || prefix === null ? "" : String(prefix)),
  },
  {
    declaration: {
      name: "uuid",
      label: "UUID",
      description:
        "A random UUID v4. Memoised per render: pass a distinct key for a second, different one.",
      params: [{ name: "key", type: "string", optional: true }],
      returns: "string",
    },
    fn: () => randomUUID(),
  },
  {
    declaration: {
      name: "nonce",
      label: "随机串",
      description: "Random letters and digits (default 16). Memoised per render by its arguments.",
      params: [
        { name: "length", type: "integer", optional: true },
        { name: "key", type: "string", optional: true },
      ],
      returns: "string",
    },
    fn: (_ctx, length?: unknown) => randomNonce(length === undefined ? 16 : Number(length)),
  },
];
