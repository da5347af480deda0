import { writeFile } from "node:fs/promises";

/** Today in `timeZone` (`YYYY-MM-DD`), and whether it is a Monday to Friday there. */
export function todayIn(timeZone: string): { date: string; weekday: boolean } {
  const now = new Date();
  const date = new Intl.DateTimeFormat("en-CA", { timeZone }).format(now);
  const day = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short" }).format(now);
  return { date, weekday: day !== "Sat" && day !== "Sun" };
}

/**
 * Writes the holiday schedule `name`, covering this year and next, to `file`, and says whether a
 * working-days-only calendar with it is open today in `timeZone`. With `flipsToday`, the file
 * makes today the opposite of its weekday: a holiday on a Monday to Friday, a make-up working day
 * (调休上班) on a weekend. Without, its one day off is another day and today stays what its
 * weekday makes it. A test that expects both answers passes only if the command read the file,
 * whatever day it runs on.
 */
export async function writeScheduleAroundToday(
  file: string,
  options: { name: string; timeZone: string; flipsToday: boolean },
): Promise<{ openToday: boolean }> {
  const { date: today, weekday } = todayIn(options.timeZone);
  const year = Number(today.slice(0, 4));
  const other = today.endsWith("-01-01") ? `${year}-12-31` : `${year}-01-01`;
  const holiday = !options.flipsToday
    ? { name: "Founders' day", from: other, to: other }
    : weekday
      ? { name: "Founders' day", from: today, to: today }
      : { name: "Founders' day", from: other, to: other, workingDays: [today] };
  await writeFile(
    file,
    JSON.stringify({ name: options.name, years: [year, year + 1], holidays: [holiday] }),
  );
  return { openToday: options.flipsToday ? !weekday : weekday };
}
