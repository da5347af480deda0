import { channelPeriods } from "../../definition/future-values.ts";
import type { ChannelDefinition } from "../../definition/types.ts";
import { cutoffDay } from "./cutoff-day.ts";

/** A stored channel's cut-off whose working day is unclear, as the calendar runs it. */
export interface AmbiguousCutoff {
  channel: string;
  /** The cut-off, local `HH:MM`. */
  cutoff: string;
  /** The scheduled change (`future[].effectiveFrom`) that brings it; undefined: in force now. */
  effectiveFrom?: string;
  /** Why it is ambiguous, the day it is taken to end, and what to write to make it explicit. */
  message: string;
}

/**
 * The ambiguous cut-offs (`cutoffDay`) a channel runs with at `now` (epoch ms) or after a
 * scheduled change: validation refuses them (`ambiguous-cutoff`), but a channel stored before
 * keeps running, each taken to end its own date's day, so a process warns about them at start.
 */
export function ambiguousCutoffs(channel: ChannelDefinition, now: number): AmbiguousCutoff[] {
  const found: AmbiguousCutoff[] = [];
  const seen = new Set<string>();
  for (const period of channelPeriods(channel)) {
    // Periods that ended before `now` no longer run.
    if (period.until !== undefined && period.until <= now) continue;
    const calendar = period.definition.calendar;
    if (calendar?.workingDaysOnly !== true || calendar.cutoff === undefined) continue;
    const { ambiguous } = cutoffDay(calendar, calendar.cutoff);
    if (ambiguous === undefined || seen.has(ambiguous)) continue;
    seen.add(ambiguous);
    const effectiveFrom =
      period.from === undefined || period.from <= now
        ? undefined
        : channel.future?.[period.entry!]?.effectiveFrom;
    found.push({
      channel: channel.code,
      cutoff: calendar.cutoff,
      ...(effectiveFrom === undefined ? {} : { effectiveFrom }),
      message: ambiguous,
    });
  }
  return found;
}
