import { CapflowError } from "../errors.ts";
import type { Duration } from "./types.ts";

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const pattern = /^(\d+)(ms|s|m|h|d)$/;
const cache = new Map<string, number>();

/** `15s` -> 15000. Throws `DEFINITION_INVALID` for anything else (the schema rejects it first). */
export function parseDuration(duration: Duration): number {
  const cached = cache.get(duration);
  if (cached !== undefined) return cached;
  const match = pattern.exec(duration);
  if (!match) {
    throw new CapflowError(
      "DEFINITION_INVALID",
      `"${duration}" is not a duration; write e.g. 500ms, 15s, 3m, 2h or 1d`,
    );
  }
  const ms = Number(match[1]) * units[match[2]!]!;
  cache.set(duration, ms);
  return ms;
}
