import type { CalendarDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { testChannel } from "./loan-definitions.ts";

/** An instant given as Shanghai local time (UTC+8, no daylight saving). */
export const shanghai = (local: string) => Date.parse(`${local}+08:00`);

/** The test funder (`lanbank`, Asia/Shanghai) with this calendar. */
export function channelWith(calendar: CalendarDefinition): ChannelDefinition {
  return { ...structuredClone(testChannel), calendar };
}

/**
 * A funder that closes its day's batch shortly after midnight: its Friday runs from Friday 01:00
 * to Saturday 00:30, on China's working days, and calls still waiting at the cut-off expire.
 */
export const nightBatchCalendar: CalendarDefinition = {
  serviceWindows: ["01:00-00:30"],
  workingDaysOnly: true,
  holidays: "cn",
  cutoff: "00:30",
  atCutoff: "expire",
};

/**
 * A calendar validation refuses (`ambiguous-cutoff`) but a channel may have been stored with
 * before: a 12:30 cut-off over the lunch break between 09:00-12:00 and 13:00-17:00. It keeps
 * running, the cut-off taken to end its own date's day.
 */
export const lunchCutoffCalendar: CalendarDefinition = {
  serviceWindows: ["09:00-12:00", "13:00-17:00"],
  workingDaysOnly: true,
  holidays: "cn",
  cutoff: "12:30",
  atCutoff: "expire",
};
