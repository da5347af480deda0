import { isCapflowError } from "@capflow/core";

/**
 * One line for an error on the terminal: `[CODE] message` for capflow's typed errors (the code
 * is what scripts and runbooks match on), the message alone for anything else.
 */
export function describeError(error: unknown): string {
  if (isCapflowError(error)) return `[${error.code}] ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
