import { DateTime } from "luxon";
import type { TimestampPart } from "./options.ts";

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
