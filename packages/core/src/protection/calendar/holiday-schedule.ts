import { CapflowError } from "../../errors.ts";
import { readJsonFile } from "../../read-json-file.ts";
import { addDays } from "./local-time.ts";

/**
 * A holiday schedule as published (the State Council's notice for mainland China each year):
 * holidays as date ranges, each with the weekend days worked in exchange (调休上班). The file
 * format of `packages/core/calendars/*.json`; several files with one `name` (one per year) merge.
 */
export interface HolidayScheduleFile {
  name: string;
  description?: string;
  /**
   * The years the file gives every holiday and make-up day of. Default: the years its holidays
   * end in (a notice's New Year holiday may begin on the last days of the year before).
   */
  years?: number[];
  holidays: { name: string; from: string; to: string; workingDays?: string[] }[];
}

/** Dates off and make-up working days, by local date `YYYY-MM-DD`. */
export interface HolidaySchedule {
  name: string;
  /** Days off that would otherwise be working days (and weekend days inside a holiday). */
  daysOff: ReadonlySet<string>;
  /** Weekend days that are working days (make-up days). */
  workingDays: ReadonlySet<string>;
  /**
   * The years the schedule covers. A date of another year is judged Monday to Friday, as if it
   * had no holidays: `BusinessCalendar` says so (`onUncoveredYear`, `covers`).
   */
  years: ReadonlySet<number>;
}

const formatHelp =
  'write { "name": "cn", "years": [2027], "holidays": [{ "name": "元旦", "from": "2027-01-01", "to": "2027-01-03", "workingDays": [] }] } as in packages/core/calendars/cn-2026.json';

const datePattern = /^\d{4}-\d{2}-\d{2}$/;

/** Checks a schedule file's content and expands its ranges. Throws `CONFIG_INVALID` naming the entry. */
export function parseHolidaySchedule(
  content: unknown,
  where = "holiday schedule",
): HolidaySchedule {
  const file = content as HolidayScheduleFile;
  if (
    typeof file !== "object" ||
    file === null ||
    typeof file.name !== "string" ||
    !Array.isArray(file.holidays)
  ) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${where}: expected a "name" and a "holidays" list; ${formatHelp}`,
    );
  }
  if (
    file.years !== undefined &&
    (!Array.isArray(file.years) ||
      file.years.length === 0 ||
      !file.years.every((year) => Number.isInteger(year) && year >= 1900 && year <= 9999))
  ) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${where}: "years" must list the years the file covers, e.g. [2027] (got ${JSON.stringify(file.years)})`,
    );
  }
  const daysOff = new Set<string>();
  const workingDays = new Set<string>();
  const years = new Set<number>(file.years ?? []);
  file.holidays.forEach((holiday, index) => {
    const shaped =
      typeof holiday === "object" &&
      holiday !== null &&
      (holiday.workingDays === undefined || Array.isArray(holiday.workingDays));
    const dates = shaped ? [holiday.from, holiday.to, ...(holiday.workingDays ?? [])] : [];
    if (
      !shaped ||
      !dates.every((date) => typeof date === "string" && datePattern.test(date)) ||
      holiday.from > holiday.to
    ) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${where}: holidays[${index}] (${holiday?.name}) needs dates written YYYY-MM-DD with from <= to`,
      );
    }
    if (file.years === undefined) years.add(Number(holiday.to.slice(0, 4)));
    for (let date = holiday.from; date <= holiday.to; date = addDays(date, 1)) daysOff.add(date);
    for (const date of holiday.workingDays ?? []) workingDays.add(date);
  });
  return { name: file.name, daysOff, workingDays, years };
}

/** Reads schedule files (JSON, the format above); schedules with one name merge. */
export async function loadHolidaySchedules(paths: readonly string[]): Promise<HolidaySchedule[]> {
  const schedules: HolidaySchedule[] = [];
  for (const path of paths) {
    const content = await readJsonFile(path, "holiday schedule", {
      unreadable: "check the path",
      notJson: formatHelp,
    });
    schedules.push(parseHolidaySchedule(content, path));
  }
  return mergeHolidaySchedules(schedules);
}

/** Schedules with the same name (one file per year) as one. */
export function mergeHolidaySchedules(schedules: readonly HolidaySchedule[]): HolidaySchedule[] {
  const byName = new Map<
    string,
    { daysOff: Set<string>; workingDays: Set<string>; years: Set<number> }
  >();
  for (const schedule of schedules) {
    const merged = byName.get(schedule.name) ?? {
      daysOff: new Set<string>(),
      workingDays: new Set<string>(),
      years: new Set<number>(),
    };
    for (const date of schedule.daysOff) merged.daysOff.add(date);
    for (const date of schedule.workingDays) merged.workingDays.add(date);
    for (const year of schedule.years) merged.years.add(year);
    byName.set(schedule.name, merged);
  }
  return [...byName].map(([name, days]) => ({ name, ...days }));
}

/**
 * Whether a local date is a working day: a make-up working day, or Monday to Friday outside the
 * schedule's days off.
 */
export function isWorkingDay(
  schedule: HolidaySchedule | undefined,
  date: string,
  weekday: number,
): boolean {
  if (schedule?.workingDays.has(date)) return true;
  if (schedule?.daysOff.has(date)) return false;
  return weekday >= 1 && weekday <= 5;
}
