import { readFile } from "node:fs/promises";
import { CapflowError } from "../../errors.ts";
import { addDays } from "./local-time.ts";

/**
 * A holiday schedule as published (the State Council's notice for mainland China each year):
 * holidays as date ranges, each with the weekend days worked in exchange (调休上班). The file
 * format of `packages/core/calendars/*.json`; several files with one `name` (one per year) merge.
 */
export interface HolidayScheduleFile {
  name: string;
  description?: string;
  holidays: { name: string; from: string; to: string; workingDays?: string[] }[];
}

/** Dates off and make-up working days, by local date `YYYY-MM-DD`. */
export interface HolidaySchedule {
  name: string;
  /** Days off that would otherwise be working days (and weekend days inside a holiday). */
  daysOff: ReadonlySet<string>;
  /** Weekend days that are working days (make-up days). */
  workingDays: ReadonlySet<string>;
}

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
      `${where}: expected { "name": "...", "holidays": [{ "name", "from", "to", "workingDays" }] }`,
    );
  }
  const daysOff = new Set<string>();
  const workingDays = new Set<string>();
  file.holidays.forEach((holiday, index) => {
    const dates = [holiday.from, holiday.to, ...(holiday.workingDays ?? [])];
    if (
      !dates.every((date) => typeof date === "string" && datePattern.test(date)) ||
      holiday.from > holiday.to
    ) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${where}: holidays[${index}] (${holiday.name}) needs dates written YYYY-MM-DD with from <= to`,
      );
    }
    for (let date = holiday.from; date <= holiday.to; date = addDays(date, 1)) daysOff.add(date);
    for (const date of holiday.workingDays ?? []) workingDays.add(date);
  });
  return { name: file.name, daysOff, workingDays };
}

/** Reads schedule files (JSON, the format above); schedules with one name merge. */
export async function loadHolidaySchedules(paths: readonly string[]): Promise<HolidaySchedule[]> {
  const schedules: HolidaySchedule[] = [];
  for (const path of paths) {
    let content: unknown;
    try {
      content = JSON.parse(await readFile(path, "utf8"));
    } catch (error) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `cannot read the holiday schedule ${path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    schedules.push(parseHolidaySchedule(content, path));
  }
  return mergeHolidaySchedules(schedules);
}

/** Schedules with the same name (one file per year) as one. */
export function mergeHolidaySchedules(schedules: readonly HolidaySchedule[]): HolidaySchedule[] {
  const byName = new Map<string, { daysOff: Set<string>; workingDays: Set<string> }>();
  for (const schedule of schedules) {
    const merged = byName.get(schedule.name) ?? {
      daysOff: new Set<string>(),
      workingDays: new Set<string>(),
    };
    for (const date of schedule.daysOff) merged.daysOff.add(date);
    for (const date of schedule.workingDays) merged.workingDays.add(date);
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
