import { isSettled, type NewStepLogEntry, type Transition } from "../ports/instance-store.ts";
import { quotaHoldChange } from "../routing/quota-effect.ts";
import type { EngineEvent } from "./engine-events.ts";
import { entrySchedule } from "./entry-schedule.ts";
import { extendRefusals } from "./refusal-run.ts";
import { sealRawMessage } from "./seal-raw-message.ts";
import type { StepRun } from "./step-run.ts";
import type { StepDecision } from "./steps/step-decision.ts";

/** A decision that changes the instance (not `stop`). */
export type CommittableDecision = Exclude<StepDecision, { type: "stop" }>;

export interface DecisionTiming {
  /** When the step began (its log's start unless the exchange says otherwise). */
  startedAt: number;
  now: number;
  /** The worker will run the next step at once if it is due: keep and extend the lease. */
  mayChain: boolean;
  leaseMs: number;
}

/** Exactly one compare-and-set commit, and the events to emit once it has committed. */
export interface AppliedDecision {
  transition: Transition;
  events: EngineEvent[];
}

/** Failing this many times in a row at one step raises attention before the schedule runs out. */
export const repeatedErrorsThreshold = 3;

/**
 * Turns a step executor's decision into the transition to commit and the events it will cause.
 * Pure but for the fresh nonce that encrypts a kept raw message: reads only the run and the
 * decision, so every rule of "what a decision means for the instance" is here and testable
 * without a store.
 */
export function applyDecision(
  run: StepRun,
  decision: CommittableDecision,
  timing: DecisionTiming,
): AppliedDecision {
  const { now } = timing;
  const from = run.record;
  const error = decision.error
    ? { code: decision.error.code, message: decision.error.message }
    : undefined;
  const context =
    decision.fields && Object.keys(decision.fields).length > 0
      ? { ...from.context, [run.stepCode]: decision.fields }
      : undefined;
  const log: NewStepLogEntry = {
    step: run.stepCode,
    attempt: decision.type === "leave" ? (decision.logAttempt ?? from.attempt) : from.attempt,
    event: decision.event,
    startedAt: decision.log?.startedAt ?? timing.startedAt,
    durationMs: decision.log?.durationMs ?? now - timing.startedAt,
  };
  if (decision.outcome !== undefined) log.outcome = decision.outcome;
  if (decision.log?.request !== undefined) log.request = decision.log.request;
  if (decision.log?.response !== undefined) log.response = decision.log.response;
  if (decision.log?.raw !== undefined)
    log.raw = sealRawMessage(run.engine, decision.log.raw, "step-log");
  if (decision.log?.interface !== undefined) log.interface = decision.log.interface;
  if (error) log.error = error;
  const consumed = decision.consumedInbox?.length ? { consumedInbox: decision.consumedInbox } : {};

  if (decision.type === "leave") {
    const target = run.behavior.definition.steps[decision.to]!;
    const entry = entrySchedule(target, now);
    const schedule =
      decision.notBefore !== undefined && entry.nextRunAt !== null
        ? { ...entry, nextRunAt: Math.max(entry.nextRunAt, decision.notBefore) }
        : entry;
    const quota = quotaHoldChange(run.behavior.definition, from, {
      step: decision.to,
      status: schedule.status,
    });
    const transition: Transition = {
      instanceId: from.id,
      expectedVersion: from.version,
      now,
      changes: {
        step: decision.to,
        status: schedule.status,
        snapshot: run.behavior.machine.advance(run.snapshot, decision.to, now),
        attempt: 0,
        nextRunAt: schedule.nextRunAt,
        waitingFor: schedule.waitingFor,
        inFlight: decision.inFlight ?? null,
        lastError: error ?? null,
        ...(context ? { context } : {}),
      },
      log: Object.assign(log, {
        fromStep: run.stepCode,
        toStep: decision.to,
        fromStatus: from.status,
        toStatus: schedule.status,
      }),
      ...consumed,
      ...(quota ? { quota } : {}),
      keepLease: timing.mayChain && schedule.nextRunAt !== null && schedule.nextRunAt <= now,
      leaseUntil: now + timing.leaseMs,
    };
    const events: EngineEvent[] = [
      {
        type: "step.succeeded",
        instanceId: from.id,
        step: run.stepCode,
        to: decision.to,
        outcome: decision.outcome ?? decision.via,
        ...partnerOf(run),
      },
    ];
    if (isSettled(schedule.status)) {
      events.push({
        type: "instance.settled",
        instanceId: from.id,
        status: schedule.status,
        step: decision.to,
      });
      if (schedule.status === "manual")
        events.push({
          type: "instance.attention",
          instanceId: from.id,
          step: decision.to,
          reason: "manual",
        });
    }
    return { transition, events };
  }

  const stay = {
    status: decision.status,
    attempt: decision.attempt,
    nextRunAt: decision.nextRunAt,
    // Only a callback step's wait is woken by its callback; a retry or a poll keeps its time.
    waitingFor:
      decision.status === "waiting" && run.step.kind === "callback" ? run.step.callback : null,
    inFlight: decision.inFlight,
  };
  if (decision.refusal !== undefined) {
    // Refused by flow control: still a compare-and-set reschedule, but no history entry of its
    // own; the refusal is counted on the instance and summarised when it next moves.
    const refusals = extendRefusals(from, decision.refusal, now);
    return {
      transition: {
        instanceId: from.id,
        expectedVersion: from.version,
        now,
        changes: { ...stay, refusals },
      },
      events: [],
    };
  }
  const transition: Transition = {
    instanceId: from.id,
    expectedVersion: from.version,
    now,
    changes: {
      ...stay,
      ...(error ? { lastError: error } : {}),
      ...(context ? { context } : {}),
    },
    log: { ...log, attempt: decision.attempt, fromStatus: from.status, toStatus: decision.status },
    ...consumed,
  };
  const events: EngineEvent[] = [];
  if (decision.error) {
    events.push({
      type: "step.failed",
      instanceId: from.id,
      step: run.stepCode,
      errorClass: decision.outcome ?? "error",
      code: decision.error.code,
      willRetry: decision.nextRunAt !== null,
      ...partnerOf(run),
    });
  }
  // Still retrying, but failing again and again: worth a look before the schedule runs out.
  const attention =
    decision.attention ??
    (error && decision.attempt >= repeatedErrorsThreshold ? "repeated-errors" : undefined);
  if (attention) {
    events.push({
      type: "instance.attention",
      instanceId: from.id,
      step: run.stepCode,
      reason: attention,
      ...(error ? { code: error.code } : {}),
    });
  }
  return { transition, events };
}

/** The channel and the interface a step talks to, for listeners counting per interface. */
function partnerOf(run: StepRun): { channel: string; interface?: string } {
  const step = run.step;
  const iface =
    step.kind === "call" || step.kind === "poll"
      ? step.interface
      : step.kind === "callback"
        ? step.poll?.interface
        : undefined;
  return { channel: run.channel.definition.code, ...(iface ? { interface: iface } : {}) };
}
