import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type { BehaviorDefinition } from "./types.ts";

/**
 * A cached query (a behavior with `cache`) has askers waiting for its run to end. A call step
 * whose retries are used up with no `onRetryExhausted` parks the run for an operator instead (a
 * request that could not be sent always goes there: `onUnknownOutcome` only takes the others). A
 * parked run answers its askers with an error, not an answer, and sits in the operators' list;
 * the next request starts a new run, which may park the same way. A warning: the definition runs,
 * but every query call should end somewhere when the funder cannot be reached.
 */
export function checkQueryCalls(behavior: BehaviorDefinition, file: string): Problem[] {
  if (behavior.cache === undefined) return [];
  const problems: Problem[] = [];
  for (const [code, step] of Object.entries(behavior.steps)) {
    if (step.kind !== "call" || step.onRetryExhausted !== undefined) continue;
    problems.push({
      code: "query-call-may-park",
      severity: "warning",
      file,
      pointer: toPointer(["steps", code]),
      message: `call step "${code}" of the cached query "${behavior.channel}/${behavior.code}" has no "onRetryExhausted": once its retries are used up (the funder cannot be reached), the run is parked for an operator instead of ending, so its askers get an error instead of an answer and each later request starts another run that may park too; add "onRetryExhausted" to a terminal step with outcome "failed"`,
    });
  }
  return problems;
}
