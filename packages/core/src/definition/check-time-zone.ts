import { didYouMean } from "./closest-name.ts";
import type { Problem } from "./problem.ts";
import type { ChannelDefinition } from "./types.ts";

/**
 * A channel's `timeZone` must be a zone the runtime knows (`Intl.DateTimeFormat` accepts it). An
 * unknown one (`Asia/Shangai`) would not fail at a start: the channel's day would be no day, so a
 * daily quota would count all days as one, and calendars and serial numbers would lose their date.
 */
export function checkTimeZone(channel: ChannelDefinition, file: string): Problem[] {
  if (isKnownTimeZone(channel.timeZone)) return [];
  return [
    {
      code: "unknown-time-zone",
      file,
      pointer: "/timeZone",
      message: `"${channel.timeZone}" is not a time zone${didYouMean(channel.timeZone, Intl.supportedValuesOf("timeZone"))}; use an IANA name such as Asia/Shanghai`,
    },
  ];
}

function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
