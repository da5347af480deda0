import type { InstanceStatus } from "@capflow/core";
import type { AccountLimitView, FlowStateStatus, PartnerInterfaceView } from "./partner-health.ts";

/**
 * `GET /v1/ops/overview`: the whole system at a glance. Unlike the instance views, its times are
 * epoch milliseconds (`now` is the server's clock when it answered, so ages are `now - t`).
 */
export interface OverviewView {
  now: number;
  /** Unsettled instances not updated for this long count as stuck (`?stuckAfter=`, default 30m). */
  stuckAfterMinutes: number;
  /** Settled instances count in `rows[].byStatus` when they settled within this many hours. */
  recentHours: number;
  /** The statuses of settled instances (those `recentHours` applies to). */
  settledStatuses: readonly InstanceStatus[];
  rows: OverviewRowView[];
  attention: AttentionGroupView[];
  /** Verified callbacks no step has consumed yet. */
  inboxPending: number;
  outbox: OutboxBacklogView;
  partners: PartnerInterfaceView[];
  accounts: AccountLimitView[];
  /** Whether the breaker and limiter columns could be read. */
  flowState: FlowStateStatus;
}

/** One row of the overview: a channel's behavior, its instances by status, its failure rate. */
export interface OverviewRowView {
  channel: string;
  behavior: string;
  /** The channel's time zone (UTC when the channel is not stored). */
  timeZone: string;
  byStatus: Partial<Record<InstanceStatus, number>>;
  total: number;
  settledLastHour: number;
  failedLastHour: number;
  /** Failed among those settled in the last hour; null when none settled. */
  failureRate: number | null;
}

/** Instances waiting for an operator, by why. */
export interface AttentionGroupView {
  /** `manual`: in manual review; `parked`: `GET /attention/parked`; `stuck`: not updated past the limit. */
  kind: "manual" | "parked" | "stuck";
  count: number;
  /** When the longest-waiting one last changed (epoch ms); null when there are none. */
  oldestUpdatedAt: number | null;
}

/** Notifications to the upstream not delivered yet (all zero where the store keeps no outbox). */
export interface OutboxBacklogView {
  /** Waiting for delivery (first try or a retry). */
  pending: number;
  /** Pending after at least one failed delivery. */
  retrying: number;
  /** Given up after the retry schedule, not re-sent since. */
  failed: number;
  /** Creation time of the oldest pending notification (epoch ms); null when none is pending. */
  oldestPendingAt: number | null;
}
