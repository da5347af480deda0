import { BusinessCalendar, type ChannelDefinition, MemoryDefinitionSource } from "@capflow/core";
import { describe, expect, it } from "vitest";
import { channelWith } from "../../core/test/support/calendar-channels.ts";
import { calendarStartWarnings } from "../src/calendar-start-warnings.ts";

/** The test funder under another code, with this calendar and scheduled changes. */
function channel(code: string, extra: Pick<ChannelDefinition, "calendar" | "future">) {
  return { ...channelWith({}), code, ...extra };
}

const lunch = {
  serviceWindows: ["09:00-12:00", "13:00-17:00"],
  workingDaysOnly: true,
  cutoff: "12:30",
};

describe("what serve and worker warn about at start for the stored channels' calendars", () => {
  const definitions = new MemoryDefinitionSource({
    channels: [
      channel("cedar", { calendar: lunch }),
      // Ambiguous only from a scheduled change on.
      channel("jade", {
        calendar: { workingDaysOnly: true, cutoff: "23:30" },
        future: [{ effectiveFrom: "2027-01-01", values: { calendar: { cutoff: "00:30" } } }],
      }),
      // Ambiguous until a change already in force: nothing to say.
      channel("meadow", {
        calendar: { workingDaysOnly: true, cutoff: "00:30" },
        future: [{ effectiveFrom: "2026-01-01", values: { calendar: { cutoff: "23:30" } } }],
      }),
      // Every day's cut-off counts: which day it ends changes nothing.
      channel("plain", { calendar: { cutoff: "00:30" } }),
    ],
    behaviors: [],
  });
  const calendar = new BusinessCalendar({ definitions });

  it("each ambiguous cut-off, once, with the day it is taken to end and what to write; nothing else mid-year", async () => {
    const warnings = await calendarStartWarnings(definitions, calendar, Date.UTC(2026, 5, 15));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^channel cedar's calendar cut-off 12:30 is ambiguous \(ambiguous-cutoff\): the cut-off 12:30 falls after the day's first opening yet leaves 4h of its 7h of service time after it, .*it is taken to end its own date's day .*"cutoff": "17:00".*"cutoff": "09:00".*The channel keeps running as stored; capflow push refuses it until the day is explicit$/,
      ),
      expect.stringMatching(
        /^channel jade's calendar cut-off 00:30 from 2027-01-01 \(future values\) is ambiguous \(ambiguous-cutoff\): .*"serviceWindows": \["00:30-00:30"\]/,
      ),
    ]);
  });
});
