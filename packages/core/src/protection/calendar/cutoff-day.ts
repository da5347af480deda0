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
 * later cut-off ends its own date's day, and must come after most of that date's service time:
 * one that leaves half of it or more after itself (`00:30` without `serviceWindows`, or `12:30`
 * between `09:00-12:00` and `13:00-17:00`) says nothing clear about the day it ends, and is
 * refused (`ambiguous-cutoff`) rather than guessed.
 */
export type CutoffDay =
  | {
      /** How many days before the local date a cut-off falls on is the date it ends: 1 or 0. */
      daysBefore: 0 | 1;
      ambiguous?: undefined;
    }
  | {
      /** What makes the cut-off ambiguous and what to write instead. */
      ambiguous: string;
    };

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
  let before = 0;
  let after = 0;
  for (const [start, end] of windows) {
    const split = Math.min(Math.max(at, start), end);
    before += split - start;
    after += end - split;
  }
  if (after < before) return { daysBefore: 0 };
  const hint =
    calendar.serviceWindows === undefined
      ? `declare the funder's hours in serviceWindows: a cut-off at or before the first opening ends the previous date's day (a day from 01:00 to 00:30 the next day: "serviceWindows": ["01:00-00:30"], "cutoff": "00:30")`
      : "move the cut-off after most of the day's windows, or to the first opening or before it (it then ends the previous date's day)";
  return {
    ambiguous: `the cut-off ${cutoff} falls after the day's first opening yet leaves ${hours(after)} of its ${hours(before + after)} of service time after it, so the working day it ends is unclear; ${hint}`,
  };
}

function hours(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h}h` : h === 0 ? `${m}min` : `${h}h${String(m).padStart(2, "0")}`;
}
