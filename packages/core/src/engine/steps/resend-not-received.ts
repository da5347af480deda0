import { parseDuration } from "../../definition/duration.ts";
import type { PollStep } from "../../definition/types.ts";
import type { RouteEnv } from "../../message/choose-route.ts";
import type { StepRun } from "../step-run.ts";
import { chooseStepRoute } from "./route-choice.ts";
import type { StepDecision } from "./step-decision.ts";

/** Grace before a resend when the interface names none. */
export const defaultResendGrace = "1m";

/**
 * Recovery without manual review: the query after an unknown outcome proves the partner never
 * received the order, and the partner deduplicates the call's interface by our serial. Then the
 * call is resent with the serial of the attempt whose outcome was unknown, no earlier than the
 * interface's grace after that attempt was first sent (an order still on its way must have had
 * time to arrive; if it arrives after all, the partner takes the resend as the same order).
 *
 * Undefined, so the routes decide, when the step declares no `onNotReceived`, when the answer does
 * not satisfy its condition, when no attempt of that call is carried here, or when the interface
 * does not declare `deduplicatesSerial` (validation reports that last case).
 */
export function resendNotReceived(
  run: StepRun,
  step: PollStep,
  env: RouteEnv,
): StepDecision | { parked: StepDecision } | undefined {
  const rule = step.onNotReceived;
  const carried = run.record.inFlight;
  if (rule === undefined || carried === null || carried.step !== rule.resend) return undefined;
  const target = run.behavior.definition.steps[rule.resend];
  if (target?.kind !== "call") return undefined;
  const declared = run.channel.definition.interfaces[target.interface]?.deduplicatesSerial;
  if (declared === undefined) return undefined;
  const choice = chooseStepRoute([{ when: rule.when, to: rule.resend }], undefined, env, run);
  if (choice.kind === "error") {
    return {
      parked: {
        type: "stay",
        status: "active",
        nextRunAt: null,
        attempt: run.record.attempt,
        inFlight: carried,
        event: "error",
        outcome: choice.error.code,
        error: choice.error,
        attention: "parked",
      },
    };
  }
  if (choice.kind !== "route") return undefined;
  return {
    type: "leave",
    to: rule.resend,
    via: "resend",
    event: "poll",
    outcome: "notReceived",
    inFlight: { ...carried, notProcessed: true },
    notBefore: carried.startedAt + parseDuration(declared.grace ?? defaultResendGrace),
  };
}
