import { cutoffDay } from "../protection/calendar/cutoff-day.ts";
import type { Problem } from "./problem.ts";
import type { ChannelDefinition } from "./types.ts";

/**
 * With `workingDaysOnly`, a cut-off counts when the business day it ends is a working day, so
 * which day that is must be clear (`cutoffDay`): an ambiguous cut-off would expire calls, queued
 * starts and cached answers a day early or late, and is refused here rather than guessed at run
 * time.
 */
export function checkCutoffDay(channel: ChannelDefinition, file: string): Problem[] {
  const calendar = channel.calendar;
  if (calendar?.workingDaysOnly !== true || calendar.cutoff === undefined) return [];
  const day = cutoffDay(calendar, calendar.cutoff);
  if (day.ambiguous === undefined) return [];
  return [
    {
      code: "ambiguous-cutoff",
      file,
      pointer: "/calendar/cutoff",
      message: `channel ${channel.code}: ${day.ambiguous}`,
    },
  ];
}
