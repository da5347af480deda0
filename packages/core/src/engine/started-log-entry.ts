import type { NewInstance, NewStepLogEntry } from "../ports/instance-store.ts";

/**
 * The first history entry of an instance an operator started by hand on a channel: who, and why.
 * Written by the store with the instance, in the insert's commit, so no operator start goes
 * unrecorded. Undefined for other starts (the upstream's, which the intake API authenticates).
 */
export function startedLogEntry(instance: NewInstance): NewStepLogEntry | undefined {
  if (!instance.startedBy) return undefined;
  return {
    step: instance.step,
    attempt: 0,
    event: "started",
    toStep: instance.step,
    toStatus: instance.status,
    outcome: "start",
    actor: { who: instance.startedBy.who, why: instance.startedBy.why },
    startedAt: instance.now,
    durationMs: 0,
  };
}
