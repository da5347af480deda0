import { resolve } from "node:path";
import {
  BusinessCalendar,
  type DefinitionSource,
  type HolidaySchedule,
  loadHolidaySchedules,
  type UncoveredYear,
} from "@capflow/core";

export const holidaysOptionHelp =
  'holiday schedule files (JSON, as packages/core/calendars/cn-2026.json) for channels\' calendar.holidays, e.g. a later year of "cn" (built in: 2026); repeatable, files with one name merge';

/**
 * Reads `--holidays <file...>` before the command opens anything: a file that cannot be read or
 * does not hold a schedule stops it with `CONFIG_INVALID` naming the file and what to fix.
 */
export async function loadHolidaysOption(
  files: readonly string[] | undefined,
  cwd: string,
): Promise<HolidaySchedule[]> {
  if (!files || files.length === 0) return [];
  return loadHolidaySchedules(files.map((file) => resolve(cwd, file)));
}

/**
 * The business calendar of a command that judges business days: a `capflow serve` or `capflow
 * worker` process (shared by its engine and its start queue), `capflow reconcile run` and
 * `capflow instances start`. The built-in schedules and those of `--holidays`, so every command
 * given the same files judges the same days. A working day judged in a year its schedule does not
 * cover is warned about once per schedule and year.
 */
export function processCalendar(
  definitions: DefinitionSource,
  holidays: readonly HolidaySchedule[],
  warn: (message: string, notice: UncoveredYear) => void,
): BusinessCalendar {
  return new BusinessCalendar({
    definitions,
    holidays,
    onUncoveredYear: (notice) => warn(describeUncoveredYear(notice), notice),
  });
}

export function describeUncoveredYear(notice: UncoveredYear): string {
  const covered = notice.covered.length === 0 ? "no year" : `only ${notice.covered.join(", ")}`;
  return `holiday schedule "${notice.schedule}" does not cover ${notice.year} (it covers ${covered}): channel ${notice.channel}'s working days in ${notice.year} are judged Monday to Friday, without holidays or make-up working days; give that year's file with --holidays`;
}
