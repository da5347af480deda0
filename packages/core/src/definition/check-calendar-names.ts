import { didYouMean } from "./closest-name.ts";
import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type { ChannelDefinition } from "./types.ts";

/**
 * `calendar.interfaces` names the channel's interfaces (rules for their calls and polls) and its
 * callbacks (rules for applying their notifications). A name that is neither would silently leave
 * the defaults in place, so it is a problem, with the closest name.
 */
export function checkCalendarNames(channel: ChannelDefinition, file: string): Problem[] {
  const names = [...Object.keys(channel.interfaces), ...Object.keys(channel.callbacks ?? {})];
  return Object.keys(channel.calendar?.interfaces ?? {})
    .filter((name) => !names.includes(name))
    .map((name) => ({
      code: "unknown-calendar-interface",
      file,
      pointer: toPointer(["calendar", "interfaces", name]),
      message: `calendar.interfaces names "${name}", which is neither an interface nor a callback of channel ${channel.code}${didYouMean(name, names)}`,
    }));
}
