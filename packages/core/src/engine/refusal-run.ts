import { createHash } from "node:crypto";
import type {
  InstanceRecord,
  NewStepLogEntry,
  RefusalRun,
  StepLogEntry,
  Transition,
} from "../ports/instance-store.ts";

/**
 * The instance's run of refusals with one more: the run it holds, or a new one from this refusal.
 * A run belongs to one step at one attempt; anything else the instance did since ended the run
 * (that commit wrote it to the history and cleared it).
 */
export function extendRefusals(record: InstanceRecord, reason: string, now: number): RefusalRun {
  const held = record.refusals;
  if (held !== null && held.step === record.step && held.attempt === record.attempt) {
    return {
      ...held,
      reason,
      count: held.count + 1,
      reasons: { ...held.reasons, [reason]: (held.reasons[reason] ?? 0) + 1 },
      lastAt: now,
    };
  }
  return {
    step: record.step,
    attempt: record.attempt,
    reason,
    count: 1,
    reasons: { [reason]: 1 },
    firstAt: now,
    lastAt: now,
  };
}

/** The history entry summarising a run of refusals. */
export function refusalLogEntry(run: RefusalRun): NewStepLogEntry {
  return {
    step: run.step,
    attempt: run.attempt,
    event: "wait",
    outcome: `notAdmitted:${run.reason}`,
    refusals: { count: run.count, reasons: { ...run.reasons } },
    startedAt: run.firstAt,
    durationMs: run.lastAt - run.firstAt,
  };
}

/**
 * The id of the summary entry written at `version` of the instance: derived, not drawn, so the
 * entry shown while the run goes on (`pendingRefusalEntry`) keeps its id once it is written.
 * Stores compute the same value (PostgreSQL: `md5(id || '/' || version || '/refusals')::uuid`).
 */
export function refusalEntryId(instanceId: string, version: number): string {
  const hex = createHash("md5").update(`${instanceId}/${version}/refusals`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The refusals an instance holds, as the history entry they will become (same id and version):
 * what an operator's view of the history appends after the stored entries while the run goes on.
 */
export function pendingRefusalEntry(record: InstanceRecord): StepLogEntry | undefined {
  if (record.refusals === null) return undefined;
  return {
    ...refusalLogEntry(record.refusals),
    id: refusalEntryId(record.id, record.version),
    instanceId: record.id,
    version: record.version,
  };
}

/** The step a transition is about, for errors' context: its entry's, or its refusals'. */
export function transitionStep(transition: Transition): { step: string } | Record<string, never> {
  const step = transition.log?.step ?? transition.changes.refusals?.step;
  return step === undefined ? {} : { step };
}
