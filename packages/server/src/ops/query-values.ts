import { CapflowError } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";

/** The longest look-back a query takes: ten years. */
export const maxQueryDurationMs = 3650 * 86_400_000;

/** The highest version an instance or behavior can have (a PostgreSQL integer). */
export const maxVersion = 2_147_483_647;

/** A duration query value (`30s`, `10m`, `2h`, `1d`) up to ten years, in milliseconds. */
export function queryDuration(text: string, name: string): number {
  let ms: number;
  try {
    ms = parseDuration(text as `${number}s`);
  } catch {
    throw new CapflowError(
      "REQUEST_INVALID",
      `${name}: "${text}" is not a duration like 30s, 10m, 2h, 1d`,
    );
  }
  if (!Number.isSafeInteger(ms) || ms > maxQueryDurationMs) {
    throw new CapflowError(
      "REQUEST_INVALID",
      `${name}: "${text}" is longer than ten years (3650d); ask for a shorter one`,
    );
  }
  return ms;
}

/**
 * A JSON schema pattern refusing the NUL character, which no identifier, code or key holds and
 * the database cannot store or compare: such a value is a 400, never a failed query.
 */
export const noNul = "^[^\\u0000]*$";
