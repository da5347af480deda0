import { CapflowError, type ErrorContext, isCapflowError } from "@capflow/core";

export type RedisFailureCode = "LOCK_UNAVAILABLE" | "LIMITER_UNAVAILABLE";

/** Messages (or their start) of failures where the command certainly or probably did not run. */
const transientMessages = [
  "Stream isn't writeable", // not connected and the offline queue is off: failed before sending
  "Connection is closed",
  "Command timed out",
  "Reached the max retries per request limit",
  "connect ETIMEDOUT",
];

/** Redis replies that mean "not now" rather than "never". */
const transientReplies = [
  "LOADING",
  "BUSY",
  "READONLY",
  "MASTERDOWN",
  "CLUSTERDOWN",
  "TRYAGAIN",
  "OOM",
];

const transientErrnos = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * Turns an ioredis (or redlock) failure into a `CapflowError` with `code`. Connection problems,
 * timeouts and "try again" replies are retryable: the engine delays the step and tries later.
 * Other replies (wrong type, no permission, script errors) are not: they need an operator.
 * The message names what failed and what to do; it never includes the connection URL.
 */
export function translateRedisError(
  error: unknown,
  code: RedisFailureCode,
  context: ErrorContext = {},
): CapflowError {
  if (isCapflowError(error)) return error.withContext(context);
  const message = error instanceof Error ? error.message : String(error);
  const errno = (error as { code?: unknown } | null)?.code;
  const retryable =
    (typeof errno === "string" && transientErrnos.has(errno)) ||
    transientMessages.some((start) => message.startsWith(start)) ||
    transientReplies.some((reply) => message.startsWith(`${reply} `) || message === reply);
  const what = code === "LOCK_UNAVAILABLE" ? "locks" : "flow-control limits";
  const next = retryable
    ? "nothing was changed; try again later, and check that Redis is running and reachable"
    : "this will not pass by itself; check the Redis server, its permissions and the key prefix";
  return new CapflowError(code, `Redis failed for ${what}: ${message}; ${next}`, {
    context,
    cause: error,
    retryable,
  });
}
