import type { CalendarDefinition } from "../../definition/types.ts";
import { minutesOf } from "./local-time.ts";

/**
 * Which business day a cut-off (日切) ends: the one rule the calendar's calls, queued starts and
 * cached queries all count cut-offs by. It only matters with `workingDaysOnly`, where a cut-off
 * counts when the day it ends is a working day.
 *
 * A date's business day opens with its first service window (00:00 without `serviceWindows`;
 * a window crossing midnight belongs to the day it opens). A cut-off at or before that opening
 * ends the previous date's day, since nothing of its own date has opened yet: `00:00` always, and
 * `00:30` for a funder whose windows are `01:00-00:30`, whose Friday ends at Saturday 00:30. A
 * later cut-off ends its own date's day, and should come after most of that date's service time:
 * one that leaves half of it or more after itself (`00:30` without `serviceWindows`, or `12:30`
 * between `09:00-12:00` and `13:00-17:00`) says nothing clear about the day it ends. Validation
 * refuses it (`ambiguous-cutoff`); a channel stored before keeps running, its cut-off taken to
 * end its own date's day as every cut-off but `00:00` did before this rule, and is warned about
 * when a process starts.
 */
export interface CutoffDay {
  /** How many days before the local date a cut-off falls on is the date it ends: 1 or 0. */
  daysBefore: 0 | 1;
  /**
   * When the day it ends is unclear (then `daysBefore` is 0): why, what it is taken to mean, and
   * what to write to make it explicit.
   */
  ambiguous?: string;
}

/** All day: the business day without `serviceWindows`. */
const allDay = ["00:00-24:00"];

/** `HH:MM-HH:MM` as minutes; an end at or before the start crosses midnight. */
export function parseWindow(window: string): [number, number] {
  const [from, to] = window.split("-");
  const start = minutesOf(from ?? "");
  let end = minutesOf(to ?? "");
  if (end <= start) end += 24 * 60;
  return [start, end];
}

/** The channel's service windows, all day without them. */
export function serviceWindowsOf(calendar: CalendarDefinition): [number, number][] {
  return (calendar.serviceWindows ?? allDay).map(parseWindow);
}

/** Which business day `cutoff` (local `HH:MM`) ends under this calendar's service windows. */
export function cutoffDay(calendar: CalendarDefinition, cutoff: string): CutoffDay {
  const at = minutesOf(cutoff);
  const windows = serviceWindowsOf(calendar);
  const opening = Math.min(...windows.map(([start]) => start));
  if (at <= opening) return { daysBefore: 1 };
  const { before, after } = serviceAround(windows, at);
  if (after < before) return { daysBefore: 0 };
  return {
    daysBefore: 0,
    ambiguous: `the cut-off ${cutoff} falls after the day's first opening yet leaves ${hours(after)} of its ${hours(before + after)} of service time after it, so the working day it ends is unclear; it is taken to end its own date's day (the one falling on a Friday ends Friday's), as before cut-off days were ruled. To make it explicit, ${explicitHint(calendar, cutoff, windows)}`,
  };
}

/** The service time of a day before and after a clock time, in minutes. */
function serviceAround(windows: [number, number][], at: number) {
  let before = 0;
  let after = 0;
  for (const [start, end] of windows) {
    const split = Math.min(Math.max(at, start), end);
    before += split - start;
    after += end - split;
  }
  return { before, after };
}

/** What to write, for this calendar, so the day an ambiguous cut-off ends is clear. */
function explicitHint(
  calendar: CalendarDefinition,
  cutoff: string,
  windows: [number, number][],
): string {
  if (calendar.serviceWindows === undefined) {
    // Open all day from the cut-off to the next one: the same hours, the day opening at the cut-off.
    return `declare the funder's hours in serviceWindows so the day opens at or after the cut-off: "serviceWindows": ["${cutoff}-${cutoff}"] (open all day) or its real hours opening at or after ${cutoff}; the cut-off then ends the previous date's day (Friday's at Saturday ${cutoff}). Or move the cut-off after noon, to keep it ending its own date's day`;
  }
  const opening = Math.min(...windows.map(([start]) => start));
  const closing = Math.max(...windows.map(([, end]) => end));
  const toFirstOpening = `move the cut-off to the first opening or before it ("cutoff": "${clock(opening)}"): it then ends the previous date's day`;
  // The last window's close ends its own date's day unless it falls past midnight.
  return closing < 24 * 60
    ? `move the cut-off after most of the day's windows ("cutoff": "${clock(closing)}", when the last closes) to keep it ending its own date's day, or ${toFirstOpening}`
    : `move the cut-off after most of the day's windows to keep it ending its own date's day, or ${toFirstOpening}`;
}

function clock(minutes: number): string {
  const m = minutes % (24 * 60);
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

function hours(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h}h` : h === 0 ? `${m}min` : `${h}h${String(m).padStart(2, "0")}`;
}
