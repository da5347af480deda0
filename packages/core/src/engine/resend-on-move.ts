import type { BehaviorDefinition, CallStep, ChannelDefinition } from "../definition/types.ts";
import type { InstanceRecord, StepLogEntry } from "../ports/instance-store.ts";
import { unresolvedCallOf } from "./unresolved-call.ts";

/**
 * The step `step` when it is a call a move could send again unsafely (not idempotent), else
 * undefined: only a move to such a step needs the instance's history. Without the channel, the
 * step's own `idempotent` decides (false unless it says so).
 */
export function nonIdempotentCallStep(
  step: string,
  behavior: BehaviorDefinition,
  channel: ChannelDefinition | undefined,
): CallStep | undefined {
  const definition = Object.hasOwn(behavior.steps, step) ? behavior.steps[step] : undefined;
  if (definition?.kind !== "call") return undefined;
  const idempotent =
    definition.idempotent ?? channel?.interfaces[definition.interface]?.idempotent ?? false;
  return idempotent ? undefined : definition;
}

/** The call steps of `behavior` that call interface `interfaceName`. */
export function callStepsOf(behavior: BehaviorDefinition, interfaceName: string): string[] {
  return Object.entries(behavior.steps)
    .filter(
      ([, definition]) => definition.kind === "call" && definition.interface === interfaceName,
    )
    .map(([step]) => step);
}

/**
 * Why moving the instance to `step` would send again a call that may have reached the partner,
 * or undefined when it would not. A move clears the recorded intent and the step sends a new
 * attempt with a new serial, so a move back to a non-idempotent call whose last attempt's outcome
 * is unknown would send it again without the query that finds out whether it was processed.
 *
 * Two things tell: the instance's in-flight mark (sent, not answered), and, once the mark is gone
 * (the call went to its query, whose polls were used up into manual review; an operator moved
 * the instance elsewhere), the history (`unresolvedCall`). The history is read rather than a mark
 * kept on the instance for longer: `inFlight` means "the next run of this step must not send", so
 * keeping it past the query would change how steps run (a route back into the step would query
 * instead of sending), how quota holds move and which instances migrate; the history already
 * records every attempt and every answer, and only a move to such a step reads it.
 *
 * The call is judged by its interface, not by the step's name: a new attempt of `step` sends
 * again what another step of the same interface sent (two steps calling it, or the step it was
 * named in the version the instance was migrated from), so an unsettled attempt of any of them
 * refuses the move.
 *
 * A call the partner proved it did not process may be sent again; so may an idempotent one
 * (same serial). `history` must hold the entries up to the record's version; without it, only
 * the mark is judged.
 */
export function unsafeResendOnMove(
  record: InstanceRecord,
  step: string,
  behavior: BehaviorDefinition,
  channel: ChannelDefinition | undefined,
  history?: readonly StepLogEntry[],
): string | undefined {
  const definition = nonIdempotentCallStep(step, behavior, channel);
  if (definition === undefined) return undefined;
  const query = definition.onUnknownOutcome ?? "the step that queries it";
  const inFlight = record.inFlight;
  const sameCall = (other: string) =>
    other === step || callStepsOf(behavior, definition.interface).includes(other);
  if (inFlight !== null && sameCall(inFlight.step)) {
    if (inFlight.notProcessed === true) return undefined;
    return `the call of step ${inFlight.step} (serial ${inFlight.serial}) may have reached the partner, and moving ${inFlight.step === step ? "back " : ""}to ${step} would send it again without asking: move to ${query} instead, or, once the partner confirmed it did not process serial ${inFlight.serial}, move with callNotProcessed`;
  }
  const unresolved = history
    ? unresolvedCallOf(
        history,
        definition.interface,
        [step, ...callStepsOf(behavior, definition.interface)],
        record.version,
      )
    : undefined;
  if (unresolved === undefined) return undefined;
  const sent =
    unresolved.step === step
      ? `step ${step}`
      : `step ${unresolved.step} (${definition.interface}, as ${step} calls it)`;
  return `the last call of ${sent} (serial ${unresolved.serial}) had an unknown outcome that no answer settled, and moving ${unresolved.step === step ? "back " : ""}to ${step} would send it again with a new serial: move to ${query} to ask again, or, once the partner confirmed it did not process serial ${unresolved.serial}, move with callNotProcessed`;
}
