import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";

/**
 * Why moving the instance to `step` would send again a call that may have reached the partner,
 * or undefined when it would not. A move clears the recorded intent, so a move back to the step
 * of a non-idempotent call still in flight would send it again without the query that finds out
 * whether the first one was processed. A call the partner proved it did not process may be sent
 * again; so may an idempotent one (same serial). Without the channel, the step's own
 * `idempotent` decides (false unless it says so).
 */
export function unsafeResendOnMove(
  record: InstanceRecord,
  step: string,
  behavior: BehaviorDefinition,
  channel: ChannelDefinition | undefined,
): string | undefined {
  const inFlight = record.inFlight;
  if (inFlight === null || inFlight.step !== step || inFlight.notProcessed) return undefined;
  const definition = Object.hasOwn(behavior.steps, step) ? behavior.steps[step] : undefined;
  if (definition?.kind !== "call") return undefined;
  const idempotent =
    definition.idempotent ?? channel?.interfaces[definition.interface]?.idempotent ?? false;
  if (idempotent) return undefined;
  const query = definition.onUnknownOutcome;
  return `the call of step ${step} (serial ${inFlight.serial}) may have reached the partner, and moving back to ${step} would send it again without asking: move to ${query ?? "the step that queries it"} instead, or, once the partner confirmed it did not process serial ${inFlight.serial}, move with callNotProcessed`;
}
