import {
  BusinessCalendar,
  type ChannelDefinition,
  type DefinitionSource,
  type HolidaySchedule,
} from "@capflow/core";
import { describe, expect, it } from "vitest";
import { describeHolidayScheduleGap, holidayScheduleGaps } from "../src/holiday-schedule-gaps.ts";

function channel(code: string, calendar: ChannelDefinition["calendar"]): ChannelDefinition {
  return {
    code,
    name: code,
    baseUrl: "http://127.0.0.1:9",
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    interfaces: {},
    ...(calendar ? { calendar } : {}),
  } as ChannelDefinition;
}

/** The two methods the check reads, over a fixed set of channels with one behavior each. */
function definitionsOf(channels: ChannelDefinition[]): DefinitionSource {
  return {
    listBehaviors: async () =>
      channels.map((c) => ({ channel: c.code, code: "apply", version: 1, active: true })),
    getChannel: async (code: string) => {
      const definition = channels.find((c) => c.code === code);
      return definition ? { definition } : undefined;
    },
  } as unknown as DefinitionSource;
}

const acme2026: HolidaySchedule = {
  name: "acme",
  daysOff: new Set(["2026-10-01"]),
  workingDays: new Set(),
  years: new Set([2026]),
};

describe("holiday schedules the stored channels need, checked when serve or worker starts", () => {
  const channels = [
    channel("lanbank", { workingDaysOnly: true, holidays: "cn" }),
    channel("cedar", { workingDaysOnly: true, holidays: "acme" }),
    channel("jade", { workingDaysOnly: true, holidays: "acme" }),
    // Names a schedule but judges every day: no gap to tell.
    channel("meadow", { holidays: "acme" }),
    channel("plain", undefined),
  ];
  const definitions = definitionsOf(channels);
  const calendar = new BusinessCalendar({ definitions, holidays: [acme2026] });

  it("mid-year: only a schedule missing this year (none here: cn and acme cover 2026)", async () => {
    expect(await holidayScheduleGaps(definitions, calendar, Date.UTC(2026, 5, 15))).toEqual([]);
  });

  it("within 30 days of the new year: every schedule missing next year, with its channels", async () => {
    const gaps = await holidayScheduleGaps(definitions, calendar, Date.UTC(2026, 11, 7));
    expect(gaps).toEqual([
      { schedule: "acme", year: 2027, channels: ["cedar", "jade"] },
      { schedule: "cn", year: 2027, channels: ["lanbank"] },
    ]);
    expect(describeHolidayScheduleGap(gaps[0] as (typeof gaps)[number])).toBe(
      'holiday schedule "acme" of channels cedar, jade does not cover 2027: from 2027-01-01 their working days would be judged Monday to Friday, without holidays or make-up working days; give that year\'s file with --holidays before then',
    );
  });

  it("a year already begun without its schedule, and a schedule given for it", async () => {
    expect(await holidayScheduleGaps(definitions, calendar, Date.UTC(2027, 2, 1))).toEqual([
      { schedule: "acme", year: 2027, channels: ["cedar", "jade"] },
      { schedule: "cn", year: 2027, channels: ["lanbank"] },
    ]);
    const given = new BusinessCalendar({
      definitions,
      holidays: [
        { ...acme2026, years: new Set([2026, 2027]) },
        { name: "cn", daysOff: new Set(), workingDays: new Set(), years: new Set([2027]) },
      ],
    });
    expect(await holidayScheduleGaps(definitions, given, Date.UTC(2027, 2, 1))).toEqual([]);
  });
});
