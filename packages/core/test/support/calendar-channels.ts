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
