import { parseDuration } from "../../definition/duration.ts";
import { ownEntry } from "../../definition/own-entry.ts";
import type { PollStep } from "../../definition/types.ts";
import { CapflowError } from "../../errors.ts";
import type { RouteEnv } from "../../message/choose-route.ts";
import type { StepRun } from "../step-run.ts";
import { chooseStepRoute } from "./route-choice.ts";
import type { StepDecision } from "./step-decision.ts";

/** Grace before a resend when the interface names none. */
export const defaultResendGrace = "1m";

/** Resends of one attempt when the interface names no `maxResends`. */
export const defaultMaxResends = 3;

/**
 * Recovery without manual review: the query after an unknown outcome proves the partner never
 * received the order, and the partner deduplicates the call's interface by our serial. Then the
 * call is resent with the serial of the attempt whose outcome was unknown, no earlier than the
 * interface's grace after that attempt was first sent (an order still on its way must have had
 * time to arrive; if it arrives after all, the partner takes the resend as the same order).
 *
 * Each resend is counted on the attempt; past the interface's `maxResends` (default 3) the query
 * leaves for its `onExhausted` step with `RECOVERY_RESENDS_EXHAUSTED` instead of resending again.
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
  const declared = ownEntry(
    run.channel.definition.interfaces,
    target.interface,
  )?.deduplicatesSerial;
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
  const resends = (carried.resends ?? 0) + 1;
  const budget = declared.maxResends ?? defaultMaxResends;
  if (resends > budget) {
    // A partner that keeps timing out and keeps answering "not found": stop, a person checks.
    return {
      type: "leave",
      to: step.onExhausted,
      via: "exhausted",
      event: "poll",
      outcome: "resendsExhausted",
      error: new CapflowError(
        "RECOVERY_RESENDS_EXHAUSTED",
        `step "${rule.resend}" was resent ${budget} time(s) with serial ${carried.serial} after "${run.stepCode}" found no such order, and its outcome is still unknown; check the order with ${run.channel.definition.code} before moving the instance on (maxResends of interface "${target.interface}" sets the budget)`,
        { context: { ...run.errorContext(), serial: carried.serial, resends: budget } },
      ),
    };
  }
  return {
    type: "leave",
    to: rule.resend,
    via: "resend",
    event: "poll",
    outcome: "notReceived",
    inFlight: { ...carried, notProcessed: true, resends },
    notBefore: carried.startedAt + parseDuration(declared.grace ?? defaultResendGrace),
  };
}
