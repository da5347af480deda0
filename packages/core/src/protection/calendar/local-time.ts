/**
 * Instants and local calendar times in an IANA time zone, with `Intl` (no library): what a
 * business calendar needs to find "00:30 on the next working day in Asia/Shanghai".
 */

/** A local date `YYYY-MM-DD` and minutes since its midnight. */
export interface LocalTime {
  date: string;
  minutes: number;
  /** 0 Sunday … 6 Saturday. */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, format);
  }
  return format;
}

function parts(at: number, timeZone: string) {
  const values: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(at)) {
    if (part.type !== "literal") values[part.type] = Number(part.value);
  }
  return values as {
    year: number;
    month: number;
    day: number;
    hour: number;
    minute: number;
    second: number;
  };
}

/** The local date and time of an instant in a zone. */
export function localTime(at: number, timeZone: string): LocalTime {
  const p = parts(at, timeZone);
  const date = `${p.year}-${pad(p.month)}-${pad(p.day)}`;
  return {
    date,
    minutes: p.hour * 60 + p.minute + p.second / 60 + (at % 1000) / 60_000,
    weekday: new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay(),
  };
}

/** The instant a local date and minute-of-day happen in a zone (24:00 is the next midnight). */
export function zonedInstant(date: string, minutes: number, timeZone: string): number {
  const [year, month, day] = date.split("-").map(Number) as [number, number, number];
  const wall = Date.UTC(year, month - 1, day) + minutes * 60_000;
  // The offset at the guess, then once more at the corrected instant (DST edges).
  let guess = wall - offsetAt(wall, timeZone);
  guess = wall - offsetAt(guess, timeZone);
  return guess;
}

/** Local time minus UTC at an instant, in milliseconds. */
function offsetAt(at: number, timeZone: string): number {
  const p = parts(at, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - (at - (at % 1000));
}

/** `YYYY-MM-DD` plus `days`. */
export function addDays(date: string, days: number): string {
  const [year, month, day] = date.split("-").map(Number) as [number, number, number];
  const next = new Date(Date.UTC(year, month - 1, day + days));
  return `${next.getUTCFullYear()}-${pad(next.getUTCMonth() + 1)}-${pad(next.getUTCDate())}`;
}

/** `HH:MM` (00:00 to 24:00) as minutes since midnight. */
export function minutesOf(clock: string): number {
  const match = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(clock);
  if (!match || (match[1] === "24" && match[2] !== "00")) {
    throw new RangeError(`"${clock}" is not a time of day; write HH:MM, e.g. 00:30 or 23:30`);
  }
  return Number(match[1]) * 60 + Number(match[2]);
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}
