import type { TransitionKind } from "../../definition/step-transitions.ts";
import type { CapflowError } from "../../errors.ts";
import type { InFlightCall, InstanceStatus, StepLogEvent } from "../../ports/instance-store.ts";
import type { AttentionReason } from "../engine-events.ts";
import type { ExchangeLog } from "../partner-exchange.ts";

/** What a step executor decided; the engine turns it into one compare-and-set commit. */
export type StepDecision = LeaveStep | StayInStep | { type: "stop"; reason: string };

/** Leave the current step for `to` along an edge of the graph. */
export interface LeaveStep {
  type: "leave";
  to: string;
  via: TransitionKind;
  event: StepLogEvent;
  outcome?: string;
  /** Fields extracted at this step, stored in the context under the step's code. */
  fields?: Record<string, unknown>;
  log?: ExchangeLog;
  consumedInbox?: string[];
  error?: CapflowError;
  /**
   * A call attempt whose outcome is not known yet, carried to the step that recovers it (a
   * query) so that step can resend it with its serial. Default: none.
   */
  inFlight?: InFlightCall;
  /** The next step runs no earlier than this (a resend's grace period). */
  notBefore?: number;
  /** The attempt number of this step log entry when it is not the instance's (a poll's number). */
  logAttempt?: number;
}

/** Stay in the current step: retry later, keep waiting, or park for an operator. */
export interface StayInStep {
  type: "stay";
  status: Extract<InstanceStatus, "active" | "waiting">;
  /** `null` parks the instance: only an operator's action moves it. */
  nextRunAt: number | null;
  attempt: number;
  inFlight: InFlightCall | null;
  event: StepLogEvent;
  outcome?: string;
  fields?: Record<string, unknown>;
  log?: ExchangeLog;
  consumedInbox?: string[];
  error?: CapflowError;
  attention?: AttentionReason;
  /**
   * Flow control refused the call (its reason): the instance is rescheduled and the refusal
   * counted on it (`InstanceRecord.refusals`), with no history entry of its own.
   */
  refusal?: string;
}
