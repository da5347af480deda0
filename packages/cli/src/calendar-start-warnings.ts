import {
  type AmbiguousCutoff,
  ambiguousCutoffs,
  type BusinessCalendar,
  type DefinitionSource,
} from "@capflow/core";
import { describeHolidayScheduleGap, holidayScheduleGaps } from "./holiday-schedule-gaps.ts";

/**
 * What `capflow serve` and `capflow worker` warn about when they start, for the stored channels'
 * calendars: the holiday years their schedules lack (`holidayScheduleGaps`), and the cut-offs
 * whose working day is ambiguous. Validation refuses those now, but a channel stored before keeps
 * running (nothing is refused at run time), so the warning says how it runs and what to write.
 * Neither fails `/readyz`: the channels work, only perhaps not as their authors meant.
 */
export async function calendarStartWarnings(
  definitions: DefinitionSource,
  calendar: BusinessCalendar,
  now: number,
): Promise<string[]> {
  const warnings = (await holidayScheduleGaps(definitions, calendar, now)).map(
    describeHolidayScheduleGap,
  );
  for (const code of await definitions.listChannels()) {
    const channel = (await definitions.getChannel(code))?.definition;
    if (channel) warnings.push(...ambiguousCutoffs(channel, now).map(describeAmbiguousCutoff));
  }
  return warnings;
}

export function describeAmbiguousCutoff(found: AmbiguousCutoff): string {
  const when =
    found.effectiveFrom === undefined ? "" : ` from ${found.effectiveFrom} (future values)`;
  return `channel ${found.channel}'s calendar cut-off ${found.cutoff}${when} is ambiguous (ambiguous-cutoff): ${found.message}. The channel keeps running as stored; capflow push refuses it until the day is explicit`;
}
