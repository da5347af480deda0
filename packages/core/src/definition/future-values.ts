import { DateTime } from "luxon";
import { parseDuration } from "./duration.ts";
import type { ChannelDefinition, FutureValues } from "./types.ts";

/** Overlap after a switch when a future entry names none: messages in flight at the instant still open. */
export const defaultOverlap = "1h";

/** The channel as it is during one period: its values, from when, until when. */
export interface ChannelPeriod {
  /** The channel with every entry effective by then applied, and no `future`. */
  definition: ChannelDefinition;
  /** When the period began (epoch ms); undefined for the values before any entry took effect. */
  from: number | undefined;
  /** When the next entry takes effect; undefined when none follows. */
  until: number | undefined;
  /** The entry that began the period (its index in `future`). */
  entry?: number;
  /** The period before and until when its keys still open messages (the entry's overlap). */
  previous?: { definition: ChannelDefinition; overlapUntil: number };
}

/**
 * When a future entry takes effect, in epoch ms: an ISO 8601 time with an offset
 * (`2027-01-01T00:00:00+08:00`, `…Z`), or a date or local time in the channel's time zone
 * (`2027-01-01` is midnight there, as funders announce it). Undefined when it does not parse.
 */
export function effectiveInstant(effectiveFrom: string, timeZone: string): number | undefined {
  const hasOffset = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(effectiveFrom);
  const parsed = DateTime.fromISO(
    effectiveFrom,
    hasOffset ? { setZone: true } : { zone: timeZone },
  );
  return parsed.isValid ? parsed.toMillis() : undefined;
}

/**
 * Every period of a channel in time order: the values before the first entry, then one period per
 * entry (entries at the same instant apply in the order written). Entries whose instant does not
 * parse are left out (validation reports them).
 */
export function channelPeriods(channel: ChannelDefinition): ChannelPeriod[] {
  const { future, ...base } = channel;
  const entries = (future ?? [])
    .map((entry, index) => ({
      entry,
      index,
      at: effectiveInstant(entry.effectiveFrom, channel.timeZone),
    }))
    .filter((e): e is { entry: FutureValues; index: number; at: number } => e.at !== undefined)
    .sort((a, b) => a.at - b.at || a.index - b.index);
  const periods: ChannelPeriod[] = [{ definition: base, from: undefined, until: entries[0]?.at }];
  let current = base;
  entries.forEach(({ entry, index, at }, i) => {
    const previous = current;
    current = mergePatch(current, entry.values) as ChannelDefinition;
    periods.push({
      definition: current,
      from: at,
      until: entries[i + 1]?.at,
      entry: index,
      previous: {
        definition: previous,
        overlapUntil: at + parseDuration(entry.overlap ?? defaultOverlap),
      },
    });
  });
  return periods;
}

/** The period in effect at `at` (epoch ms). */
export function channelAt(channel: ChannelDefinition, at: number): ChannelPeriod {
  const periods = channelPeriods(channel);
  let found = periods[0]!;
  for (const period of periods) if (period.from !== undefined && period.from <= at) found = period;
  return found;
}

/**
 * JSON Merge Patch (RFC 7396): objects merge key by key, `null` removes a key, anything else
 * (arrays included) replaces. Eight lines: the packages for it wrap the same loop in CommonJS.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
