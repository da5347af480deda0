import { CapflowError } from "@capflow/core";

/** A command-line count (`--limit 50`), refused with the option's name unless a whole number ≥ 1. */
export function positiveInteger(value: string, option: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new CapflowError("CONFIG_INVALID", `${option} must be a whole number of 1 or more`);
  }
  return parsed;
}
