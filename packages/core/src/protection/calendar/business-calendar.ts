import { ownEntry } from "../../definition/own-entry.ts";
import type {
  CalendarDefinition,
  CalendarRule,
  ChannelDefinition,
} from "../../definition/types.ts";
import { CapflowError } from "../../errors.ts";
import type {
  CalendarAnswer,
  CallGate,
  CallGateRequest,
  ChannelCalendar,
  CutoffRequest,
} from "../../ports/channel-calendar.ts";
import type { DefinitionSource } from "../../ports/definition-source.ts";
import { chinaHolidays2026 } from "./china-holidays-2026.ts";
import { cutoffDay, serviceWindowsOf } from "./cutoff-day.ts";
import { type HolidaySchedule, isWorkingDay, mergeHolidaySchedules } from "./holiday-schedule.ts";
import { addDays, localTime, minutesOf, zonedInstant } from "./local-time.ts";

export interface BusinessCalendarOptions {
  /** Where channels (and their `calendar`) are read, for routing's `isOpen`. */
  definitions: DefinitionSource;
  /**
   * Holiday schedules channels may name in `calendar.holidays`. `cn` (mainland China, 2026) is
   * built in; schedules given here with the same name add their years to it.
   */
  holidays?: readonly HolidaySchedule[];
  /**
   * Told once per schedule and year, the first time the calendar judges a working day of a year
   * the schedule does not cover (`cn` has 2026 built in): such a date is judged Monday to Friday,
   * as if the year had no holidays, until that year's file is given. Log it as a warning.
   */
  onUncoveredYear?: (notice: UncoveredYear) => void;
}

/** A working day judged without its holidays: the named schedule does not cover its year. */
export interface UncoveredYear {
  /** The schedule's name (`calendar.holidays`). */
  schedule: string;
  year: number;
  /** The channel whose calendar judged it first, and the local date. */
  channel: string;
  date: string;
  /** The years the schedule covers, ascending. */
  covered: number[];
}

const allRules: readonly CalendarRule[] = ["serviceWindows", "workingDays", "cutoff"];
/** How far ahead an opening is looked for: a calendar closed for longer is a mistake. */
const horizonDays = 400;

/**
 * Channels' business calendars (`calendar` in a channel definition), in the channel's time zone:
 * service windows, working days with a holiday schedule and its make-up days, and the daily
 * cut-off (日切). The engine asks `gate` before each partner call: outside a window the call waits
 * and the instance is due again when the next window opens; a call still waiting at the cut-off
 * rolls to the next window or, with `atCutoff: "expire"`, expires unsent. Routing asks `isOpen`;
 * the start queue asks `gate` for a behavior's first call and `expiringCutoff` for the cut-off
 * that expires the starts queued before it.
 *
 * By default the rules apply to calls and not to polls (queries keep running at night) or
 * callbacks; a channel's `calendar.interfaces` says per interface (and per callback, for applying
 * its notifications) which rules apply. A notification is always received and stored at once.
 */
export class BusinessCalendar implements ChannelCalendar {
  readonly #definitions: DefinitionSource;
  readonly #holidays: Map<string, HolidaySchedule>;
  readonly #onUncoveredYear: ((notice: UncoveredYear) => void) | undefined;
  /** Schedule and year pairs already told, so each is told once. */
  readonly #told = new Set<string>();

  constructor(options: BusinessCalendarOptions) {
    this.#definitions = options.definitions;
    this.#onUncoveredYear = options.onUncoveredYear;
    this.#holidays = new Map(
      mergeHolidaySchedules([chinaHolidays2026, ...(options.holidays ?? [])]).map((s) => [
        s.name,
        s,
      ]),
    );
  }

  async isOpen(channel: string, at: number): Promise<CalendarAnswer> {
    const definition = (await this.#definitions.getChannel(channel))?.definition;
    if (!definition?.calendar) return { open: true };
    const opening = this.#nextOpening(definition, definition.calendar, allRules, at);
    if (opening === at) return { open: true };
    return { open: false, reason: closedReason(definition, opening) };
  }

  gate(request: CallGateRequest): CallGate {
    const calendar = request.channel.calendar;
    if (!calendar) return { open: true };
    const rules = rulesFor(calendar, request);
    if (rules.length === 0) return { open: true };
    const opening = this.#nextOpening(request.channel, calendar, rules, request.at);
    if (opening === request.at) return { open: true };
    const expires =
      rules.includes("cutoff") && calendar.cutoff !== undefined && calendar.atCutoff === "expire";
    const zone = request.channel.timeZone;
    // With working days in force, the cut-off (日切) is a working day's: none on a weekend or a
    // holiday, so a call due after Friday's cut-off waits for Monday and is not expired meanwhile.
    const cutoffDays = expires
      ? this.#cutoffDays(request.channel, calendar, calendar.cutoff!, rules)
      : undefined;
    if (expires && request.heldSince !== undefined) {
      const cutoff = lastCutoff(calendar.cutoff!, request.at, zone, cutoffDays);
      if (cutoff > request.heldSince) {
        return {
          open: false,
          expired: true,
          reason: `still waiting at ${request.channel.code}'s cut-off (${calendar.cutoff} ${zone}), which expires waiting calls`,
        };
      }
    }
    const until =
      expires && opening !== undefined
        ? Math.min(opening, nextCutoff(calendar.cutoff!, request.at, zone, cutoffDays))
        : opening;
    if (until === undefined) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `channel ${request.channel.code}'s calendar has no opening in the next ${horizonDays} days; check its serviceWindows and holidays`,
      );
    }
    return { open: false, until, reason: closedReason(request.channel, opening) };
  }

  /**
   * Whether the holiday schedule `name` covers `year` (false for a schedule the calendar was not
   * given): ask at start, for this year and the next, to warn before a year runs on Monday to
   * Friday alone.
   */
  covers(name: string, year: number): boolean {
    return this.#holidays.get(name)?.years.has(year) ?? false;
  }

  /** The holiday schedules the calendar knows, by name, with the years each covers (ascending). */
  schedules(): { name: string; years: number[] }[] {
    return [...this.#holidays.values()].map((schedule) => ({
      name: schedule.name,
      years: [...schedule.years].sort((a, b) => a - b),
    }));
  }

  expiringCutoff(request: CutoffRequest): number | undefined {
    const calendar = request.channel.calendar;
    if (calendar?.cutoff === undefined || calendar.atCutoff !== "expire") return undefined;
    const rules = rulesFor(calendar, request);
    if (!rules.includes("cutoff")) return undefined;
    const cutoff = lastCutoff(
      calendar.cutoff,
      request.at,
      request.channel.timeZone,
      this.#cutoffDays(request.channel, calendar, calendar.cutoff, rules),
    );
    return Number.isFinite(cutoff) ? cutoff : undefined;
  }

  /**
   * The channel's next cut-off (日切) after `at`: `calendar.cutoff`, local midnight without one.
   * With `workingDaysOnly`, a working day's, as calls and queued starts count it: none ending a
   * weekend day or a holiday, one ending a make-up working day; else any day's. A cut-off at or
   * before the day's first opening ends the date before it (`cutoffDay`): Friday's 00:00 one is at
   * Saturday 00:00. A cached query's answer with the `cutoff` lifetime lives until it.
   */
  cutoffAfter(channel: ChannelDefinition, at: number): number {
    const calendar = channel.calendar ?? {};
    const time = calendar.cutoff ?? "00:00";
    const cutoff = nextCutoff(
      time,
      at,
      channel.timeZone,
      this.#cutoffDays(channel, calendar, time, allRules),
    );
    if (!Number.isFinite(cutoff)) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `channel ${channel.code}'s calendar has no working day in the next ${horizonDays} days; check its holidays`,
      );
    }
    return cutoff;
  }

  /**
   * Whether the cut-off falling on a local date counts, when working days are in force for these
   * rules (the channel's `workingDaysOnly`, and `workingDays` among the interface's rules): when
   * the business day it ends (`cutoffDay`) is a working day, holidays and make-up days included.
   * Undefined: every day's counts.
   */
  #cutoffDays(
    channel: ChannelDefinition,
    calendar: CalendarDefinition,
    cutoff: string,
    rules: readonly CalendarRule[],
  ): ((cutoffDate: string) => boolean) | undefined {
    if (!rules.includes("workingDays") || calendar.workingDaysOnly !== true) return undefined;
    // An ambiguous cut-off (refused by validation, stored before it was) is never refused here:
    // a running channel keeps its calls and queued starts going, its cut-off taken to end its own
    // date's day, and `capflow serve` and `capflow worker` warn about it at start.
    const { daysBefore } = cutoffDay(calendar, cutoff);
    const schedule = this.#schedule(channel, calendar);
    return (cutoffDate) => {
      const date = addDays(cutoffDate, -daysBefore);
      if (schedule) this.#checkCovered(schedule, channel.code, date);
      return isWorkingDay(schedule, date, weekdayOf(date));
    };
  }

  /** The holiday schedule the calendar names, if any; refused when the calendar was not given it. */
  #schedule(channel: ChannelDefinition, calendar: CalendarDefinition): HolidaySchedule | undefined {
    const schedule =
      calendar.holidays === undefined ? undefined : this.#holidays.get(calendar.holidays);
    if (calendar.holidays !== undefined && !schedule) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `channel ${channel.code}'s calendar names the holiday schedule "${calendar.holidays}", which the calendar was not given; pass it in BusinessCalendar's holidays (${[...this.#holidays.keys()].join(", ")} known)`,
      );
    }
    return schedule;
  }

  /** `at` when open then; else the next instant a window opens (undefined: none within the horizon). */
  #nextOpening(
    channel: ChannelDefinition,
    calendar: CalendarDefinition,
    rules: readonly CalendarRule[],
    at: number,
  ): number | undefined {
    const zone = channel.timeZone;
    const windows = serviceWindowsOf(rules.includes("serviceWindows") ? calendar : {});
    const workingDaysOnly = rules.includes("workingDays") && calendar.workingDaysOnly === true;
    const schedule = this.#schedule(channel, calendar);
    const today = localTime(at, zone).date;
    for (let offset = -1; offset <= horizonDays; offset += 1) {
      const date = addDays(today, offset);
      if (workingDaysOnly) {
        if (schedule) this.#checkCovered(schedule, channel.code, date);
        if (!isWorkingDay(schedule, date, weekdayOf(date))) continue;
      }
      let earliest: number | undefined;
      for (const [start, end] of windows) {
        const opens = zonedInstant(date, start, zone);
        const closes = zonedInstant(date, end, zone);
        if (at >= opens && at < closes) return at;
        if (opens > at && (earliest === undefined || opens < earliest)) earliest = opens;
      }
      if (earliest !== undefined) return earliest;
    }
    return undefined;
  }

  #checkCovered(schedule: HolidaySchedule, channel: string, date: string): void {
    const year = Number(date.slice(0, 4));
    if (schedule.years.has(year)) return;
    const key = `${schedule.name}\u0000${year}`;
    if (this.#told.has(key)) return;
    this.#told.add(key);
    try {
      this.#onUncoveredYear?.({
        schedule: schedule.name,
        year,
        channel,
        date,
        covered: [...schedule.years].sort((a, b) => a - b),
      });
    } catch {
      // A listener's failure never affects the calendar.
    }
  }
}

/** The rules that apply to an interface's calls or polls: its own list, else every rule for calls and none for polls. */
function rulesFor(
  calendar: CalendarDefinition,
  request: { interfaceName: string; kind: CallGateRequest["kind"] },
): readonly CalendarRule[] {
  return (
    ownEntry(calendar.interfaces, request.interfaceName) ??
    (request.kind === "call" ? allRules : [])
  );
}

function weekdayOf(date: string): number {
  const [year, month, day] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/**
 * The latest cut-off at or before `at` falling on a local date `counts` (every day without it),
 * looked for within the horizon; -Infinity when there is none.
 */
function lastCutoff(
  cutoff: string,
  at: number,
  zone: string,
  counts: (date: string) => boolean = () => true,
): number {
  const today = localTime(at, zone).date;
  for (let offset = 0; offset >= -horizonDays; offset -= 1) {
    const date = addDays(today, offset);
    if (!counts(date)) continue;
    const instant = zonedInstant(date, minutesOf(cutoff), zone);
    if (instant <= at) return instant;
  }
  return Number.NEGATIVE_INFINITY;
}

/**
 * The first cut-off (local `HH:MM`) after `at` in a zone falling on a local date `counts` (every
 * day without it), looked for within the horizon; Infinity when there is none.
 */
export function nextCutoff(
  cutoff: string,
  at: number,
  zone: string,
  counts: (date: string) => boolean = () => true,
): number {
  const today = localTime(at, zone).date;
  for (let offset = 0; offset <= horizonDays; offset += 1) {
    const date = addDays(today, offset);
    if (!counts(date)) continue;
    const instant = zonedInstant(date, minutesOf(cutoff), zone);
    if (instant > at) return instant;
  }
  return Number.POSITIVE_INFINITY;
}

function closedReason(channel: ChannelDefinition, opening: number | undefined): string {
  if (opening === undefined) return `${channel.code} has no opening ahead`;
  const local = localTime(opening, channel.timeZone);
  const hh = String(Math.floor(local.minutes / 60)).padStart(2, "0");
  const mm = String(Math.floor(local.minutes % 60)).padStart(2, "0");
  return `${channel.code} is closed until ${local.date} ${hh}:${mm} (${channel.timeZone})`;
}
