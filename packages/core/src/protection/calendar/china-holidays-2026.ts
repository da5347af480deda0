import { type HolidaySchedule, parseHolidaySchedule } from "./holiday-schedule.ts";

/**
 * Mainland China's public holidays of 2026 and their make-up working days, as the State Council
 * announced them on 2025-11-04; the same content as `packages/core/calendars/cn-2026.json` (a test
 * keeps them equal). Later years: load the year's file with `loadHolidaySchedules`, under the
 * same name `cn`.
 */
export const chinaHolidays2026: HolidaySchedule = parseHolidaySchedule({
  name: "cn",
  years: [2026],
  holidays: [
    { name: "元旦", from: "2026-01-01", to: "2026-01-03", workingDays: ["2026-01-04"] },
    {
      name: "春节",
      from: "2026-02-15",
      to: "2026-02-23",
      workingDays: ["2026-02-14", "2026-02-28"],
    },
    { name: "清明节", from: "2026-04-04", to: "2026-04-06" },
    { name: "劳动节", from: "2026-05-01", to: "2026-05-05", workingDays: ["2026-05-09"] },
    { name: "端午节", from: "2026-06-19", to: "2026-06-21" },
    { name: "中秋节", from: "2026-09-25", to: "2026-09-27" },
    {
      name: "国庆节",
      from: "2026-10-01",
      to: "2026-10-07",
      workingDays: ["2026-09-20", "2026-10-10"],
    },
  ],
});
