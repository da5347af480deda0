import { parseDuration } from "../../definition/duration.ts";
import type { CallbackStep, PollStep, Route } from "../../definition/types.ts";
import { CapflowError, isCapflowError } from "../../errors.ts";
import type { InFlightCall } from "../../ports/instance-store.ts";
import { answerRouteEnv, exchangeWithPartner } from "../partner-exchange.ts";
import type { StepRun } from "../step-run.ts";
import { park } from "./call-step.ts";
import { resendNotReceived } from "./resend-not-received.ts";
import { refusalDelay } from "./retry-policy.ts";
import { chooseStepRoute } from "./route-choice.ts";
import type { StepDecision } from "./step-decision.ts";

export type PollSpec = Pick<PollStep, "interface" | "request" | "response" | "schedule">;

/** One query of a poll schedule: a route that matches settles it; otherwise try again later. */
export type PollResult =
  | { kind: "settled"; decision: StepDecision }
  | {
      kind: "unsettled";
      decision?: StepDecision;
      outcome: string;
      log?: StepDecisionLog;
      fields?: Record<string, unknown>;
      /** Why the query got no usable answer (not sent, unknown outcome, invalid answer). */
      error?: CapflowError;
    }
  | { kind: "not-admitted"; retryAfterMs: number; reason: string; until?: number };

type StepDecisionLog = NonNullable<Extract<StepDecision, { type: "stay" }>["log"]>;

/**
 * Sends one query. Queries are idempotent by nature (they change nothing at the partner), so
 * every failure simply counts as an unanswered poll and the schedule goes on.
 */
export async function pollOnce(
  run: StepRun,
  spec: PollSpec,
  routes: Route[],
  otherwise?: string,
  recovery?: PollStep,
): Promise<PollResult> {
  let exchange: Awaited<ReturnType<typeof exchangeWithPartner>>;
  try {
    exchange = await exchangeWithPartner(
      run,
      {
        interfaceName: spec.interface,
        request: spec.request,
        response: spec.response,
        kind: "poll",
      },
      run.engine.flow,
    );
  } catch (error) {
    if (isCapflowError(error, "STORE_CONFLICT") || run.signal.aborted) throw error;
    const failure = isCapflowError(error)
      ? error
      : new CapflowError("TEMPLATE_RENDER_FAILED", String(error), { cause: error });
    if (failure.retryable) return { kind: "unsettled", outcome: failure.code, error: failure };
    return {
      kind: "unsettled",
      outcome: failure.code,
      decision: park(run, carriedInFlight(run), failure, undefined),
    };
  }
  if (exchange.kind === "not-admitted")
    return {
      kind: "not-admitted",
      retryAfterMs: exchange.retryAfterMs,
      reason: exchange.reason,
      ...(exchange.until === undefined ? {} : { until: exchange.until }),
    };
  if (exchange.kind === "failed")
    return {
      kind: "unsettled",
      outcome: exchange.errorClass,
      log: exchange.log,
      error: exchange.error,
    };
  const { result, fields } = exchange;
  const pollNumber = run.record.attempt + 1;
  const env = answerRouteEnv(run, exchange);
  const resend = recovery ? resendNotReceived(run, recovery, env) : undefined;
  if (resend !== undefined) {
    if ("parked" in resend)
      return {
        kind: "unsettled",
        outcome: "routeError",
        decision: { ...resend.parked, log: exchange.log, fields } as StepDecision,
      };
    return {
      kind: "settled",
      decision: { ...resend, log: exchange.log, fields, logAttempt: pollNumber } as StepDecision,
    };
  }
  const route = chooseStepRoute(routes, otherwise, env, run);
  if (route.kind === "error")
    return {
      kind: "unsettled",
      outcome: "routeError",
      decision: park(run, carriedInFlight(run), route.error, exchange.log, fields),
    };
  if (route.kind === "none")
    return { kind: "unsettled", outcome: result.outcome, log: exchange.log, fields };
  return {
    kind: "settled",
    decision: {
      type: "leave",
      to: route.to,
      via: route.via,
      event: "poll",
      outcome: result.outcome,
      fields,
      log: exchange.log,
      logAttempt: pollNumber,
    },
  };
}

/** A `poll` step: query on its schedule until a route matches; when used up, `onExhausted`. */
export async function executePollStep(run: StepRun, step: PollStep): Promise<StepDecision> {
  const result = await pollOnce(run, step, step.routes, undefined, step);
  return afterPoll(run, step, result, () => ({
    type: "leave",
    to: step.onExhausted,
    via: "exhausted",
    event: "poll",
    outcome: "exhausted",
  }));
}

export function afterPoll(
  run: StepRun,
  step: PollSpec | PollStep | CallbackStep,
  result: PollResult,
  exhausted: () => StepDecision,
  nextRunCap?: number,
): StepDecision {
  const now = run.engine.clock.now();
  const schedule = "schedule" in step ? step.schedule : (step.poll?.schedule ?? []);
  if (result.kind === "settled") return result.decision;
  if (result.kind === "not-admitted") {
    return {
      type: "stay",
      status: "waiting",
      nextRunAt: result.until ?? now + refusalDelay(result.retryAfterMs),
      attempt: run.record.attempt,
      inFlight: carriedInFlight(run),
      event: "wait",
      outcome: `notAdmitted:${result.reason}`,
      ...(result.until === undefined ? { refusal: result.reason } : {}),
    };
  }
  if (result.decision) return result.decision;
  const polls = run.record.attempt + 1;
  const wait = schedule[polls];
  if (wait === undefined) return withLastPoll(exhausted(), result, polls);
  const nextRunAt = Math.min(now + parseDuration(wait), nextRunCap ?? Number.POSITIVE_INFINITY);
  return {
    type: "stay",
    status: "waiting",
    nextRunAt,
    attempt: polls,
    inFlight: carriedInFlight(run),
    event: "poll",
    outcome: result.outcome,
    ...(result.log ? { log: result.log } : {}),
    ...(result.fields ? { fields: result.fields } : {}),
    ...(result.error ? { error: result.error } : {}),
  };
}

/**
 * A call attempt of another step whose outcome is unknown stays recorded while this step polls
 * for it (only calls to interfaces that deduplicate by serial carry one here).
 */
function carriedInFlight(run: StepRun): InFlightCall | null {
  const carried = run.record.inFlight;
  return carried !== null && carried.step !== run.stepCode ? carried : null;
}

/**
 * The last poll of a schedule is a partner call like the others: the decision that ends the
 * schedule records its request, answer, error and number.
 */
function withLastPoll(
  decision: StepDecision,
  result: Extract<PollResult, { kind: "unsettled" }>,
  polls: number,
): StepDecision {
  if (decision.type === "stop") return decision;
  const recorded = {
    ...(result.log && !decision.log ? { log: result.log } : {}),
    ...(result.error && !decision.error ? { error: result.error } : {}),
  };
  return decision.type === "leave"
    ? { ...decision, ...recorded, logAttempt: polls }
    : { ...decision, ...recorded };
}
