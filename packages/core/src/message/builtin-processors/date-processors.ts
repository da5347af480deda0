import { DateTime } from "luxon";
import type { ProcessorContext } from "../processor-types.ts";
import type { BuiltinProcessor } from "./builtin-processor.ts";

/**
 * Reads a point in time: epoch millis (number or 13-digit string), a Date, an ISO-8601 string,
 * or the compact partner forms `yyyyMMddHHmmss` / `yyyyMMdd` (read in `zone`).
 */
export function toDateTime(value: unknown, zone: string): DateTime {
  let result: DateTime | undefined;
  if (typeof value === "number" && Number.isFinite(value)) {
    result = DateTime.fromMillis(value, { zone });
  } else if (value instanceof Date) {
    result = DateTime.fromJSDate(value, { zone });
  } else if (typeof value === "string") {
    const text = value.trim();
    if (/^\d{13}$/.test(text)) result = DateTime.fromMillis(Number(text), { zone });
    else if (/^\d{14}$/.test(text)) result = DateTime.fromFormat(text, "yyyyMMddHHmmss", { zone });
    else if (/^\d{8}$/.test(text)) result = DateTime.fromFormat(text, "yyyyMMdd", { zone });
    else result = DateTime.fromISO(text, { zone });
  }
  if (result === undefined || !result.isValid) {
    throw new TypeError(
      `not a date or time: expected epoch millis, ISO-8601, yyyyMMddHHmmss or yyyyMMdd (got ${typeof value})`,
    );
  }
  return result;
}

/**
 * Formats a point in time. `pattern`: a Luxon/Java-style pattern (`yyyyMMddHHmmss`,
 * `yyyy-MM-dd HH:mm:ss`, literal text in single quotes), or `ISO`, `epochMillis`, `epochSeconds`.
 */
export function formatDate(value: unknown, pattern: string, zone: string): string | number {
  const time = toDateTime(value, zone).setZone(zone);
  if (!time.isValid) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
  switch (pattern) {
    case "ISO":
      return time.toISO()!;
    case "epochMillis":
      return time.toMillis();
    case "epochSeconds":
      return Math.floor(time.toMillis() / 1000);
    default:
      return time.toFormat(pattern);
  }
}

export const dateProcessors: BuiltinProcessor[] = [
  {
    declaration: {
      name: "now",
      label: "当前时间",
      description:
        "The render's instant in epoch millis: one value for the whole message, from the engine's clock.",
      params: [],
      returns: { type: "integer", description: "Epoch milliseconds" },
    },
    fn: (ctx: ProcessorContext) => ctx.now(),
  },
  {
    declaration: {
      name: "formatDate",
      label: "日期格式化",
      description: "Formats a date/time in the channel's time zone unless a zone is given.",
      params: [
        {
          name: "value",
          type: "date",
          description: "Epoch millis, ISO-8601, yyyyMMddHHmmss or yyyyMMdd",
        },
        {
          name: "pattern",
          type: "string",
          description: "e.g. yyyyMMddHHmmss, yyyy-MM-dd, ISO, epochMillis",
        },
        {
          name: "timeZone",
          type: "string",
          optional: true,
          description: "IANA zone, e.g. Asia/Shanghai",
        },
      ],
      returns: "string",
    },
    fn: (ctx: ProcessorContext, value: unknown, pattern: string, zone?: string) =>
      formatDate(value, String(pattern), zone ?? ctx.channel.timeZone),
  },
];
