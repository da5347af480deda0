import type { BusinessCalendar, DefinitionSource } from "@capflow/core";

/** A holiday schedule the stored channels use that does not cover a year they are about to need. */
export interface HolidayScheduleGap {
  schedule: string;
  year: number;
  channels: string[];
}

/**
 * What to warn about when the process starts, rather than when the first date of an uncovered
 * year is judged (late in December, when the next year's calls are scheduled): each schedule a
 * stored channel names with `workingDaysOnly` that does not cover this year, or next year once
 * fewer than `aheadDays` days of this one are left (by UTC; a few hours either way do not matter
 * a month ahead).
 */
export async function holidayScheduleGaps(
  definitions: DefinitionSource,
  calendar: BusinessCalendar,
  now: number,
  aheadDays = 30,
): Promise<HolidayScheduleGap[]> {
  const codes = [...new Set((await definitions.listBehaviors()).map((ref) => ref.channel))];
  const bySchedule = new Map<string, string[]>();
  for (const code of codes.sort()) {
    const channel = (await definitions.getChannel(code))?.definition;
    const name = channel?.calendar?.workingDaysOnly ? channel.calendar.holidays : undefined;
    if (name !== undefined) bySchedule.set(name, [...(bySchedule.get(name) ?? []), code]);
  }
  const year = new Date(now).getUTCFullYear();
  const nextYearStarts = Date.UTC(year + 1, 0, 1);
  const years = nextYearStarts - now < aheadDays * 86_400_000 ? [year, year + 1] : [year];
  const gaps: HolidayScheduleGap[] = [];
  for (const [schedule, channels] of bySchedule) {
    for (const y of years) {
      if (!calendar.covers(schedule, y)) gaps.push({ schedule, year: y, channels });
    }
  }
  return gaps;
}

export function describeHolidayScheduleGap(gap: HolidayScheduleGap): string {
  return `holiday schedule "${gap.schedule}" of channel${gap.channels.length > 1 ? "s" : ""} ${gap.channels.join(", ")} does not cover ${gap.year}: from ${gap.year}-01-01 their working days would be judged Monday to Friday, without holidays or make-up working days; give that year's file with --holidays before then`;
}
