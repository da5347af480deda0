import { parseDuration } from "../../definition/duration.ts";
import type { CallbackStep } from "../../definition/types.ts";
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
