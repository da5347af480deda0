import type { InstanceStatus } from "../ports/instance-store.ts";
import type { RoutingCandidate, RoutingRule } from "../ports/routing.ts";

/**
 * What host services can listen to. Handlers run synchronously after the commit they describe;
 * a throwing handler is reported to `onListenerError` and never affects the instance.
 */
export type EngineEvent =
  | {
      type: "instance.started";
      instanceId: string;
      channel: string;
      behavior: string;
      businessKey: string;
    }
  | {
      type: "step.succeeded";
      instanceId: string;
      step: string;
      to: string;
      outcome: string;
      /** The instance's channel. */
      channel?: string;
      /** The interface the step calls or polls, if any. */
      interface?: string;
    }
  | {
      type: "step.failed";
      instanceId: string;
      step: string;
      errorClass: string;
      code: string;
      willRetry: boolean;
      channel?: string;
      interface?: string;
    }
  | { type: "instance.settled"; instanceId: string; status: InstanceStatus; step: string }
  | {
      type: "instance.attention";
      instanceId: string;
      step: string;
      reason: AttentionReason;
      code?: string;
    }
  | {
      type: "callback.received";
      channel: string;
      callback: string;
      businessKey: string;
      duplicate: boolean;
    }
  | {
      /**
       * A notification was refused. `code` and `message` are the full reason, for the host's logs
       * (never secrets or the payload); the partner is told only that it was refused.
       */
      type: "callback.rejected";
      channel: string;
      callback: string;
      code: string;
      message: string;
    }
  | { type: "ownership.lost"; instanceId: string; step: string }
  | {
      /**
       * A step ran and its result committed (any result: moved on, retrying, waiting, parked):
       * for metrics by channel, interface and outcome.
       */
      type: "step.finished";
      instanceId: string;
      channel: string;
      behavior: string;
      step: string;
      kind: string;
      /** The interface a call or poll step used (its poll's, for a callback step that polls). */
      interface?: string;
      /** The step log's outcome: the partner's canonical outcome, a failure class or an error code. */
      outcome: string;
      /** The instance's status after the commit. */
      status: InstanceStatus;
      durationMs: number;
    }
  | {
      /** One request to a partner, or one refused by flow control before it left. */
      type: "partner.called";
      instanceId: string;
      channel: string;
      interface: string;
      /** `answered` (any HTTP status below 500), a failure class, or `refused` (not admitted). */
      outcome: "answered" | "notSent" | "unknownOutcome" | "invalidResponse" | "refused";
      /** Why it was held back: `concurrency`, `rate`, `bulkhead`, `circuit-open`, `calendar` … */
      refusal?: string;
      httpStatus?: number;
      durationMs: number;
    }
  | {
      /** A product's start (or failover) chose this instance's channel: where, and by which rule. */
      type: "instance.routed";
      instanceId: string;
      product: string;
      channel: string;
      behavior: string;
      account?: string;
      rule: RoutingRule;
      /** Every channel of the product and what it was (chosen, ineligible, unhealthy …). */
      candidates: RoutingCandidate[];
      failoverOf?: string;
    }
  | {
      /** No channel of the product could take a start: nothing was stored. */
      type: "routing.refused";
      product: string;
      candidates: RoutingCandidate[];
    }
  | {
      /**
       * An instance passed a stuck-order limit (卡单): unsettled longer than its behavior's `sla`
       * (`scope: "behavior"`) or at its step longer than the step's (`scope: "step"`). Fired once
       * per breach by the `StuckMonitor`.
       */
      type: "instance.stuck";
      instanceId: string;
      channel: string;
      behavior: string;
      step: string;
      businessKey: string;
      scope: "behavior" | "step";
      slaMs: number;
      /** Creation (behavior) or entering the step (step): where the limit counts from. */
      since: number;
      /** How far past the limit when it was seen. */
      overdueMs: number;
    }
  | {
      /** An instance ended at a failover step and the business went on on another channel. */
      type: "instance.failed-over";
      instanceId: string;
      product: string;
      to: string;
      fromChannel: string;
      toChannel: string;
    };

export type AttentionReason =
  | "manual"
  | "exhausted"
  | "repeated-errors"
  | "parked"
  /** A notification came after the instance settled and contradicts how it settled. */
  | "late-notification";

export type EngineEventListener = (event: EngineEvent) => void;
