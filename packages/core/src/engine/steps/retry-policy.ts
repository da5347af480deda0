import { parseDuration } from "../../definition/duration.ts";
import type { ErrorClass, RetryPolicy } from "../../definition/types.ts";

/** Used when neither the step nor the interface says: a request that was not sent is always safe to retry. */
export const defaultRetryPolicy: RetryPolicy = {
  schedule: ["1s", "5s", "30s", "2m", "10m"],
  on: ["notSent"],
};

/**
 * The wait before retry number `attempt` (1-based) for a failure of `errorClass`, or undefined when
 * the policy does not cover it or is used up. `unknownOutcome` is retried only for idempotent calls.
 */
export function retryDelay(
  policy: RetryPolicy,
  errorClass: ErrorClass,
  attempt: number,
  idempotent: boolean,
): number | undefined {
  if (errorClass === "unknownOutcome" && !idempotent) return undefined;
  if (!(policy.on ?? ["notSent"]).includes(errorClass)) return undefined;
  const wait = policy.schedule[attempt - 1];
  return wait === undefined ? undefined : parseDuration(wait);
}

/** Shortest wait after flow control said no: each wait is a commit and a step log entry. */
const minimumRefusalWaitMs = 1_000;

/**
 * When to try again after flow control refused a call (not sent: bulkhead full, limit reached,
 * breaker open, limiter down). At least a second, spread by up to half again so the instances
 * refused together do not all come back at the same moment.
 */
export function refusalDelay(retryAfterMs: number): number {
  return Math.round(Math.max(retryAfterMs, minimumRefusalWaitMs) * (1 + Math.random() * 0.5));
}
