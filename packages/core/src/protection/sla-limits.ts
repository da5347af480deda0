import { parseDuration } from "../definition/duration.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";

/** The stuck-order limits that apply to an instance at a step, in milliseconds. */
export interface SlaLimits {
  /** Unsettled for longer than this since creation: the behavior's `sla`, else the channel's. */
  behaviorMs?: number;
  /** At this step for longer than this: the step's `sla`. */
  stepMs?: number;
}

/** Which limits apply at `step` of this behavior version on this channel. */
export function slaLimits(
  channel: ChannelDefinition | undefined,
  behavior: BehaviorDefinition,
  step: string,
): SlaLimits {
  const limits: SlaLimits = {};
  const behaviorSla = behavior.sla ?? channel?.sla;
  if (behaviorSla !== undefined) limits.behaviorMs = parseDuration(behaviorSla);
  const stepDefinition = behavior.steps[step];
  if (stepDefinition && stepDefinition.kind !== "terminal" && stepDefinition.sla !== undefined) {
    limits.stepMs = parseDuration(stepDefinition.sla);
  }
  return limits;
}
