import { isCapflowError } from "@capflow/core";

/** A one-line, log-safe description of a failure: the error code when there is one, and the message. */
export function describeError(error: unknown): string {
  if (isCapflowError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
