import type {
  AlertHistoryEntry,
  AlertRecord,
  QueueDepth,
  StuckBreach,
  StuckCount,
} from "@capflow/core";

/**
 * The business protection layer's answers (docs/protection.md): the stores' records with their
 * times as ISO 8601 text.
 */

/** `GET /v1/ops/stuck`: the stuck instances, and how many are stuck per channel, behavior, step. */
export interface StuckView {
  counts: StuckCount[];
  items: StuckInstanceView[];
}

/** An instance past its behavior's or step's SLA. */
export interface StuckInstanceView
  extends Pick<
    StuckBreach,
    "instanceId" | "channel" | "behavior" | "businessKey" | "step" | "scope" | "slaMs"
  > {
  /** Where the limit counts from: creation (behavior) or entering the step (step). */
  since: string;
  /** When the monitor saw it. */
  detectedAt: string;
}

/** An item of `GET /v1/ops/alerts`. */
export interface AlertView
  extends Omit<AlertRecord, "firedAt" | "resolvedAt" | "lastNotifiedAt" | "lastRaisedAt"> {
  firedAt: string;
  resolvedAt: string | null;
  lastNotifiedAt: string | null;
  /** A `raised` rule's alert: when any node last raised it. */
  lastRaisedAt?: string;
}

/** An item of `GET /v1/ops/alerts/:id/history`: fired, resolved, or a sink told (or not). */
export interface AlertHistoryEntryView extends Omit<AlertHistoryEntry, "at"> {
  at: string;
}

/** An item of `GET /v1/ops/queues`: a queue of starts held back, its depth and oldest start. */
export interface QueueDepthView extends Omit<QueueDepth, "oldestEnqueuedAt"> {
  oldestEnqueuedAt: string | null;
}
