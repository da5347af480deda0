import type { InstanceRecord, InstanceStatus } from "./instance-store.ts";

/**
 * What operators see of the whole system at a glance, answered by the store in a few indexed
 * queries whatever the number of instances (the operations console's overview and attention
 * queue). Settled instances count over a recent window only: all-time totals of settled work grow
 * without bound and tell an operator nothing.
 */
export interface OperationsView {
  overview(request: OverviewRequest): Promise<OperationsOverview>;
  /**
   * Unsettled instances left at their step with no next run and an error recorded (parked: they
   * wait for an operator), oldest first by (createdAt, id), after `after` (keyset paging).
   */
  listParked(request: ParkedListRequest): Promise<InstanceRecord[]>;
}

/** Whether a store also answers `OperationsView` (the knex store does; the memory store does not). */
export function isOperationsView(store: object): store is OperationsView {
  const candidate = store as Partial<OperationsView>;
  return typeof candidate.overview === "function" && typeof candidate.listParked === "function";
}

export interface OverviewRequest {
  now: number;
  /** Unsettled instances not updated for this long are stuck. */
  stuckAfterMs: number;
  /** Settled instances count when they settled within this long before `now`. */
  recentMs: number;
}

export interface StatusCount {
  channel: string;
  behavior: string;
  status: InstanceStatus;
  count: number;
}

export interface AttentionCount {
  /** `manual`: in manual review; `parked`: see `listParked`; `stuck`: not updated past the limit. */
  kind: "manual" | "parked" | "stuck";
  count: number;
  /** Last change of the longest-waiting one (epoch ms); null when there are none. */
  oldestUpdatedAt: number | null;
}

export interface OperationsOverview {
  /** Unsettled instances (all) and instances settled within `recentMs`, per channel, behavior, status. */
  byStatus: StatusCount[];
  /** Settled within the last hour, per channel, behavior and terminal status. */
  settledLastHour: StatusCount[];
  attention: AttentionCount[];
  /** Verified notifications no step has consumed yet. */
  inboxPending: number;
  /** Partner calls of the last hour per channel and interface, from step logs. */
  partnerLatency: PartnerLatency[];
  /** Notifications to the upstream not delivered yet. */
  outbox: OutboxCounts;
}

/** Latency of the calls that reached a partner (answered or not in time) over the last hour. */
export interface PartnerLatency {
  channel: string;
  interface: string;
  calls: number;
  p50Ms: number;
  p99Ms: number;
}

export interface OutboxCounts {
  /** Waiting for delivery (first try or a retry). */
  pending: number;
  /** Pending after at least one failed delivery. */
  retrying: number;
  /** Given up after the retry schedule, not re-sent since. */
  failed: number;
  /** Creation time of the oldest pending notification; null when none is pending. */
  oldestPendingAt: number | null;
}

export interface ParkedListRequest {
  limit: number;
  after?: { createdAt: number; id: string };
  channel?: string;
  behavior?: string;
}
