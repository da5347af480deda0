import { parseDuration } from "../../definition/duration.ts";
import type { CallbackStep } from "../../definition/types.ts";
import { CapflowError } from "../../errors.ts";
import type { CallbackPayload } from "../callback-payload.ts";
import type { ExchangeLog } from "../partner-exchange.ts";
import type { StepRun } from "../step-run.ts";
import { park } from "./call-step.ts";
import { afterPoll, pollOnce } from "./poll-step.ts";
import { chooseStepRoute } from "./route-choice.ts";
import type { StepDecision } from "./step-decision.ts";

/**
 * A `callback` step: apply the channel's notification from the inbox (it may have arrived long
 * before the instance got here), optionally poll while waiting, and give up at the deadline.
 * Whichever of callback and poll settles first wins: both run under the same compare-and-set.
 * Notifications whose outcome no route takes (e.g. "still processing") are consumed and the wait
 * goes on.
 */
export async function executeCallbackStep(run: StepRun, step: CallbackStep): Promise<StepDecision> {
  const { engine, record } = run;
  const now = engine.clock.now();
  const enteredAt = run.snapshot.context.enteredAt;
  const deadline = enteredAt + parseDuration(step.deadline);

  const consumed: string[] = [];
  // The last notification consumed without settling: its history row, unless a poll writes one.
  let unsettled: { outcome: string; log: ExchangeLog } | undefined;
  const pending = await engine.store.pendingInbox({
    channel: record.channel,
    businessKey: record.businessKey,
    account: record.account,
  });
  const held = await heldByCalendar(
    run,
    step,
    pending.filter((e) => e.callback === step.callback),
  );
  if (held) return held;
  for (const entry of pending) {
    if (entry.callback !== step.callback) continue;
    const payload = entry.payload as CallbackPayload;
    const env = {
      outcome: payload.outcome,
      code: payload.code,
      fields: payload.fields,
      body: payload.body,
      status: 200,
      ...run.routeData(),
    };
    const route = chooseStepRoute(step.routes, step.otherwise, env, run);
    if (route.kind === "error") return park(run, null, route.error, undefined, payload.fields);
    consumed.push(entry.id);
    unsettled = {
      outcome: `notification:${payload.outcome}`,
      log: {
        response: run.mask(payload.body),
        startedAt: entry.receivedAt,
        durationMs: now - entry.receivedAt,
      },
    };
    if (route.kind === "route") {
      return {
        type: "leave",
        to: route.to,
        via: route.via,
        event: "callback",
        outcome: payload.outcome,
        fields: payload.fields,
        consumedInbox: consumed,
        log: {
          // The channel's and the behavior's rules: the inbox copy knew only the channel's.
          response: run.mask(payload.body),
          startedAt: entry.receivedAt,
          durationMs: now - entry.receivedAt,
        },
      };
    }
  }

  if (now >= deadline) {
    return {
      type: "leave",
      to: step.onDeadline,
      via: "deadline",
      event: "wait",
      outcome: "deadline",
      consumedInbox: consumed,
      ...(unsettled ? { log: unsettled.log } : {}),
    };
  }

  if (step.poll) {
    const dueAt = pollDueAt(enteredAt, step.poll.schedule, record.attempt);
    if (dueAt !== undefined && now >= dueAt) {
      const result = await pollOnce(run, step.poll, step.routes ?? []);
      const decision = afterPoll(
        run,
        step,
        result,
        () => waitFor(run, deadline, record.attempt + 1),
        deadline,
      );
      return withConsumed(decision, consumed, unsettled);
    }
  }
  return withConsumed(waitFor(run, deadline, record.attempt), consumed, unsettled);
}

/**
 * A channel whose calendar names this callback (`calendar.interfaces`) applies its notifications
 * only while open: they were received, acknowledged and stored at once, and wait in the inbox
 * until the next opening, when the step runs again and applies them (the deadline waits too: a
 * notification is there). Without such a rule, or with nothing pending, undefined.
 */
async function heldByCalendar(
  run: StepRun,
  step: CallbackStep,
  pending: readonly { id: string }[],
): Promise<StepDecision | undefined> {
  const { engine, record } = run;
  if (pending.length === 0 || !engine.calendar.gate) return undefined;
  const now = engine.clock.now();
  const gate = await engine.calendar.gate({
    channel: run.channel.definition,
    interfaceName: step.callback,
    kind: "callback",
    at: now,
  });
  if (gate.open) return undefined;
  // Notifications never expire at a cut-off (the funder has acted): without an opening to wait
  // for (asked without `heldSince`, the gate gives one), look again in a minute.
  const until = "until" in gate ? gate.until : now + 60_000;
  return {
    type: "stay",
    // Active, as a call held by the calendar: it has work to do at `until`. (Committed into
    // `waiting` with a notification pending, the store would make it due at once.)
    status: "active",
    nextRunAt: until,
    attempt: record.attempt,
    inFlight: null,
    event: "wait",
    outcome: "notAdmitted:calendar",
    error: new CapflowError(
      "CALENDAR_CLOSED",
      `calendar: ${gate.reason}; ${pending.length === 1 ? "a notification waits" : `${pending.length} notifications wait`} in the inbox until then`,
      { context: run.errorContext() },
    ),
  };
}

function waitFor(run: StepRun, deadline: number, polls: number): StepDecision {
  const step = run.step as CallbackStep;
  const nextPoll = step.poll
    ? pollDueAt(run.snapshot.context.enteredAt, step.poll.schedule, polls)
    : undefined;
  return {
    type: "stay",
    status: "waiting",
    nextRunAt: Math.min(deadline, nextPoll ?? deadline),
    attempt: polls,
    inFlight: null,
    event: "wait",
  };
}

/** When poll number `done + 1` is due: the schedule lists the wait before each poll. */
export function pollDueAt(enteredAt: number, schedule: string[], done: number): number | undefined {
  if (done >= schedule.length) return undefined;
  let at = enteredAt;
  for (let i = 0; i <= done; i++) at += parseDuration(schedule[i]!);
  return at;
}

function withConsumed(
  decision: StepDecision,
  consumed: string[],
  unsettled?: { outcome: string; log: ExchangeLog },
): StepDecision {
  if (consumed.length === 0 || decision.type === "stop") return decision;
  const waited = decision.event === "wait";
  return {
    ...decision,
    consumedInbox: [...consumed, ...(decision.consumedInbox ?? [])],
    event: waited ? "callback" : decision.event,
    // A notification that did not settle the instance still leaves its row in the history.
    ...(waited && unsettled && !decision.log
      ? { log: unsettled.log, outcome: unsettled.outcome }
      : {}),
  };
}
