import { ownEntry } from "../../definition/own-entry.ts";
import type { CallStep, ErrorClass } from "../../definition/types.ts";
import { CapflowError, isCapflowError, toCapflowError } from "../../errors.ts";
import type { InFlightCall } from "../../ports/instance-store.ts";
import { answerRouteEnv, type Exchange, exchangeWithPartner } from "../partner-exchange.ts";
import type { StepRun } from "../step-run.ts";
import { defaultRetryPolicy, refusalDelay, retryDelay } from "./retry-policy.ts";
import { chooseStepRoute } from "./route-choice.ts";
import type { StepDecision } from "./step-decision.ts";

/**
 * A `call` step: send once and route on the answer (concepts.md, "Step kinds").
 *
 * Before sending, the attempt is recorded (`inFlight`, with its serial number) in a
 * compare-and-set commit. So a worker that crashes or loses ownership mid-call leaves a trace:
 * the next worker queries (non-idempotent) or resends with the same serial (idempotent), and two
 * workers can never both send the same attempt.
 */
export async function executeCallStep(run: StepRun, step: CallStep): Promise<StepDecision> {
  const { engine, channel } = run;
  const record = run.record;
  const iface = ownEntry(channel.definition.interfaces, step.interface);
  const idempotent = step.idempotent ?? iface?.idempotent ?? false;
  const policy = step.retry ?? iface?.retry ?? defaultRetryPolicy;
  const previous = record.inFlight?.step === run.stepCode ? record.inFlight : null;

  // A previous attempt the partner proved it did not process is resent with its serial number.
  if (previous && !idempotent && previous.notProcessed !== true) {
    const error = new CapflowError(
      "TRANSPORT_UNKNOWN_OUTCOME",
      `attempt ${previous.attempt} of step "${run.stepCode}" may have reached the partner before its worker stopped; querying instead of resending`,
      { context: run.errorContext() },
    );
    return unknownOutcome(run, step, previous, error, undefined);
  }

  // `tries` counts executions of this step (retry schedules use it); `attempt` names the request
  // on the wire and stays the same when an idempotent request is resent with its serial number.
  const tries = record.attempt + 1;
  const attempt = previous ? previous.attempt : tries;
  const intent: InFlightCall = {
    step: run.stepCode,
    attempt,
    serial: previous?.serial ?? engine.newSerial(channel.definition.timeZone),
    startedAt: previous?.startedAt ?? engine.clock.now(),
    ...(previous?.resends === undefined ? {} : { resends: previous.resends }),
  };

  let exchange: Exchange;
  let intentRecorded = false;
  try {
    exchange = await exchangeWithPartner(
      run,
      {
        interfaceName: step.interface,
        request: step.request,
        response: step.response,
        attempt: { number: attempt, serial: intent.serial, startedAt: intent.startedAt },
        beforeSend: async () => {
          await run.recordIntent(intent, tries);
          intentRecorded = true;
        },
      },
      engine.flow,
    );
  } catch (error) {
    if (isCapflowError(error, "STORE_CONFLICT") || run.signal.aborted) throw error;
    const failure = toCapflowError(error, run.errorContext());
    // A failure after the intent was recorded may follow the send: treat it as one that did.
    if (intentRecorded) {
      if (!idempotent) return unknownOutcome(run, step, intent, failure, undefined);
      return retryOrGiveUp(
        run,
        step,
        "unknownOutcome",
        failure,
        intent,
        undefined,
        policy,
        idempotent,
        tries,
      );
    }
    // Rendering or sealing failed: nothing left this process.
    if (failure.retryable)
      return retryOrGiveUp(
        run,
        step,
        "notSent",
        failure,
        previous,
        undefined,
        policy,
        idempotent,
        tries,
      );
    return park(run, previous, failure, undefined);
  }

  switch (exchange.kind) {
    case "not-admitted":
      return {
        type: "stay",
        status: "active",
        nextRunAt: exchange.until ?? engine.clock.now() + refusalDelay(exchange.retryAfterMs),
        attempt: record.attempt,
        inFlight: previous,
        event: "wait",
        outcome: `notAdmitted:${exchange.reason}`,
        // Marks a call the calendar holds back, so one still waiting at the cut-off is known. A
        // calendar hold is one entry per closed window; flow control's refusals are counted.
        ...(exchange.until === undefined
          ? { refusal: exchange.reason }
          : {
              error: new CapflowError("CALENDAR_CLOSED", exchange.reason, {
                context: run.errorContext(),
              }),
            }),
      };
    case "failed":
      if (exchange.errorClass === "notSent") {
        return retryOrGiveUp(
          run,
          step,
          "notSent",
          exchange.error,
          exchange.notProcessed ? { ...intent, notProcessed: true } : previous,
          exchange.log,
          policy,
          idempotent,
          tries,
        );
      }
      if (!idempotent) return unknownOutcome(run, step, intent, exchange.error, exchange.log);
      return retryOrGiveUp(
        run,
        step,
        exchange.errorClass,
        exchange.error,
        intent,
        exchange.log,
        policy,
        idempotent,
        tries,
      );
    case "answered": {
      const { result, fields } = exchange;
      if (result.outcome === "failed" && result.retryable) {
        const wait = retryDelay(policy, "partnerRetryable", tries, idempotent);
        if (wait !== undefined) {
          return {
            type: "stay",
            status: "active",
            nextRunAt: engine.clock.now() + wait,
            attempt: tries,
            inFlight: null,
            event: "retry",
            outcome: `${result.outcome}:${result.code}`,
            fields,
            log: exchange.log,
          };
        }
      }
      const env = answerRouteEnv(run, exchange);
      const route = chooseStepRoute(step.routes, step.otherwise, env, run);
      if (route.kind === "error") return park(run, intent, route.error, exchange.log, fields);
      if (route.kind === "none") {
        const error = new CapflowError(
          "ROUTE_NO_MATCH",
          `no route of step "${run.stepCode}" matches outcome ${result.outcome} (partner code ${result.code}) and it has no "otherwise"; add a route, then move the instance on (it was answered: do not resend)`,
          { context: run.errorContext() },
        );
        return park(run, intent, error, exchange.log, fields);
      }
      return {
        type: "leave",
        to: route.to,
        via: route.via,
        event: "call",
        outcome: result.outcome,
        fields,
        log: exchange.log,
      };
    }
  }
}

function unknownOutcome(
  run: StepRun,
  step: CallStep,
  inFlight: InFlightCall,
  error: CapflowError,
  log: Exchange["log"] | undefined,
): StepDecision {
  if (step.onUnknownOutcome !== undefined) {
    // A partner that deduplicates by serial lets the recovery query resend this very attempt.
    const carried = ownEntry(run.channel.definition.interfaces, step.interface)?.deduplicatesSerial
      ? {
          inFlight: {
            step: inFlight.step,
            attempt: inFlight.attempt,
            serial: inFlight.serial,
            startedAt: inFlight.startedAt,
            ...(inFlight.resends === undefined ? {} : { resends: inFlight.resends }),
          },
        }
      : {};
    return {
      type: "leave",
      to: step.onUnknownOutcome,
      via: "unknownOutcome",
      event: "call",
      outcome: "unknownOutcome",
      error,
      ...carried,
      ...(log ? { log } : {}),
    };
  }
  // No query step to find out: keep the in-flight mark so that no retry resends, and ask a human.
  return park(run, inFlight, error, log);
}

function retryOrGiveUp(
  run: StepRun,
  step: CallStep,
  errorClass: ErrorClass,
  error: CapflowError,
  keepInFlight: InFlightCall | null,
  log: Exchange["log"] | undefined,
  policy: NonNullable<CallStep["retry"]>,
  idempotent: boolean,
  tries: number,
): StepDecision {
  const attempt = tries;
  const wait = retryDelay(policy, errorClass, attempt, idempotent);
  if (wait !== undefined) {
    return {
      type: "stay",
      status: "active",
      nextRunAt: run.engine.clock.now() + wait,
      attempt,
      inFlight: keepInFlight,
      event: "retry",
      outcome: errorClass,
      error,
      ...(log ? { log } : {}),
    };
  }
  if (errorClass !== "notSent" && step.onUnknownOutcome !== undefined) {
    return {
      type: "leave",
      to: step.onUnknownOutcome,
      via: "unknownOutcome",
      event: "call",
      outcome: errorClass,
      error,
      ...(log ? { log } : {}),
    };
  }
  if (step.onRetryExhausted !== undefined) {
    return {
      type: "leave",
      to: step.onRetryExhausted,
      via: "retryExhausted",
      event: "call",
      outcome: errorClass,
      error,
      ...(log ? { log } : {}),
    };
  }
  return {
    ...park(run, keepInFlight, error, log),
    attempt,
    attention: "exhausted",
  } as StepDecision;
}

/** Stay, not due: the error is recorded and an operator decides (retryNow, moveTo, cancel). */
export function park(
  run: StepRun,
  inFlight: InFlightCall | null,
  error: CapflowError,
  log: Exchange["log"] | undefined,
  fields?: Record<string, unknown>,
): StepDecision {
  return {
    type: "stay",
    status: "active",
    nextRunAt: null,
    attempt: run.record.attempt,
    inFlight,
    event: "error",
    outcome: error.code,
    error,
    attention: "parked",
    ...(log ? { log } : {}),
    ...(fields ? { fields } : {}),
  };
}
