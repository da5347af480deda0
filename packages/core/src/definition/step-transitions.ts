import { toPointer } from "./json-pointer.ts";
import type { StepDefinition, StepKind } from "./types.ts";

/** Why one step leads to another. */
export type TransitionKind =
  | "route"
  | "otherwise"
  | "unknownOutcome"
  | "retryExhausted"
  | "deadline"
  | "exhausted"
  | "resend"
  | "next";

export interface StepTransition {
  kind: TransitionKind;
  /** Target step code. */
  to: string;
  /** The route condition, for `route` transitions. */
  when?: string;
  /** Position in `routes`, for `route` transitions. */
  routeIndex?: number;
  /** Pointer to the property naming the target, relative to the step. */
  pointer: string;
}

/**
 * Steps that wait (for time, a callback or a poll schedule) before leaving: a loop through one
 * of them advances with the clock instead of spinning.
 */
export const waitingStepKinds: ReadonlySet<StepKind> = new Set(["poll", "callback", "delay"]);

/** Every way out of a step, in declaration order: routes first, then the fallbacks. */
export function stepTransitions(step: StepDefinition): StepTransition[] {
  const transitions: StepTransition[] = [];
  if ("routes" in step && step.routes !== undefined) {
    step.routes.forEach((route, index) => {
      transitions.push({
        kind: "route",
        to: route.to,
        when: route.when,
        routeIndex: index,
        pointer: toPointer(["routes", index, "to"]),
      });
    });
  }
  const fallback = (kind: TransitionKind, property: string, to: string | undefined) => {
    if (to !== undefined) transitions.push({ kind, to, pointer: toPointer([property]) });
  };
  switch (step.kind) {
    case "call":
      fallback("otherwise", "otherwise", step.otherwise);
      fallback("unknownOutcome", "onUnknownOutcome", step.onUnknownOutcome);
      fallback("retryExhausted", "onRetryExhausted", step.onRetryExhausted);
      break;
    case "poll":
      fallback("exhausted", "onExhausted", step.onExhausted);
      if (step.onNotReceived !== undefined)
        transitions.push({
          kind: "resend",
          to: step.onNotReceived.resend,
          when: step.onNotReceived.when,
          pointer: toPointer(["onNotReceived", "resend"]),
        });
      break;
    case "callback":
      fallback("otherwise", "otherwise", step.otherwise);
      fallback("deadline", "onDeadline", step.onDeadline);
      break;
    case "delay":
      fallback("next", "next", step.next);
      break;
    case "decide":
      fallback("otherwise", "otherwise", step.otherwise);
      break;
    case "terminal":
      break;
  }
  return transitions;
}
