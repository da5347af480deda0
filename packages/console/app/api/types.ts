/** The operator API's answers, as the console reads them (docs/serving.md has the full list). */
export type Role = "viewer" | "operator" | "admin";

export type InstanceStatus = "active" | "waiting" | "succeeded" | "failed" | "manual" | "cancelled";

export const instanceStatuses: readonly InstanceStatus[] = [
  "active",
  "waiting",
  "succeeded",
  "failed",
  "manual",
  "cancelled",
];

export interface Operator {
  name: string;
  role: Role;
}

export interface OverviewRow {
  channel: string;
  behavior: string;
  timeZone: string;
  byStatus: Partial<Record<InstanceStatus, number>>;
  total: number;
  settledLastHour: number;
  failedLastHour: number;
  /** Failed among those settled in the last hour; null when none settled. */
  failureRate: number | null;
}

export type AttentionKind = "manual" | "parked" | "stuck";

export interface AttentionGroup {
  kind: AttentionKind;
  count: number;
  /** When the oldest of them last changed (epoch ms), null when there are none. */
  oldestUpdatedAt: number | null;
}

export type BreakerState = "closed" | "open" | "half-open";

/** One channel interface's health across the cluster. */
export interface PartnerRow {
  channel: string;
  interface: string;
  /** Calls that reached the partner in the last hour; null when there were none. */
  latency: { calls: number; p50Ms: number; p99Ms: number } | null;
  /** The worst state over the nodes; null when not known. */
  breaker: {
    state: BreakerState;
    openNodes: number;
    halfOpenNodes: number;
    since: number | null;
    probeAt: number | null;
  } | null;
  /** How full the shared limits are; null without limits or when not known. */
  limiter: {
    concurrency: { held: number; limit: number } | null;
    rate: { inWindow: number; limit: number; windowMs: number } | null;
    saturation: number;
  } | null;
}

/** A channel account's own limits (a funder's limit per merchant id). */
export interface AccountLimitRow {
  channel: string;
  account: string;
  limiter: PartnerRow["limiter"];
}

export interface OutboxBacklog {
  pending: number;
  /** Pending after at least one failed delivery. */
  retrying: number;
  /** Given up after the retry schedule. */
  failed: number;
  oldestPendingAt: number | null;
}

export interface Overview {
  now: number;
  stuckAfterMinutes: number;
  rows: OverviewRow[];
  attention: AttentionGroup[];
  inboxPending: number;
  outbox: OutboxBacklog;
  partners: PartnerRow[];
  accounts: AccountLimitRow[];
  /** Whether the breaker and limiter columns could be read. */
  flowState: "known" | "not-configured" | "unavailable";
}

export interface InstanceSummary {
  id: string;
  /** Compare-and-set counter: an action previewed at this version applies to it or to nothing. */
  version: number;
  channel: string;
  behavior: string;
  behaviorVersion: number;
  businessKey: string;
  step: string;
  status: InstanceStatus;
  attempt: number;
  /** Left at its step with no next run and an error recorded: needs an operator. */
  parked: boolean;
  lastError: { code: string; message: string } | null;
  nextRunAt: number | null;
  createdAt: number;
  updatedAt: number;
  timeZone: string;
}

export interface SearchPage {
  instances: InstanceSummary[];
  /** Cursor of the next page; null on the last one. */
  next: string | null;
}

export interface HistoryEntry {
  id: string;
  version: number;
  step: string;
  attempt: number;
  event: string;
  fromStep?: string;
  toStep?: string;
  fromStatus?: string;
  toStatus?: string;
  outcome?: string;
  request?: unknown;
  response?: unknown;
  error?: { code: string; message: string };
  actor?: { who: string; why: string };
  /** A summary of flow-control refusals: how many, by reason, the last one's time. */
  refusals?: HistoryRefusals;
  startedAt: number;
  durationMs: number;
}

export interface HistoryRefusals {
  count: number;
  reasons: Record<string, number>;
  lastAt: number;
  /** The instance is still being refused: this is its last entry, and the count still grows. */
  ongoing: boolean;
}

export interface InboxRow {
  id: string;
  callback: string;
  receivedAt: number;
  processedAt: number | null;
  instanceId: string | null;
}

export interface NotificationRow {
  id: string;
  /** `instance.succeeded`, `instance.attention`, … */
  type: string;
  /** `pending`, `delivered` or `failed`. */
  status: string;
  attempts: number;
  createdAt: number;
  deliveredAt: number | null;
  lastError: { code: string; message: string } | null;
  resent: { by: string; at: number } | null;
}

export interface GraphNode {
  id: string;
  kind: string;
  /** For terminal steps: succeeded, failed, manual or cancelled. */
  outcome?: string;
}

export interface GraphEdge {
  from: string;
  to: string;
  label: string;
}

export interface BehaviorGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  initial: string;
}

export interface InstanceDetail {
  instance: InstanceSummary & { context: unknown };
  history: HistoryEntry[];
  inbox: InboxRow[];
  notifications: NotificationRow[];
  graph: BehaviorGraph;
  /** Steps the instance may be moved to (its pinned version's steps). */
  moveTargets: string[];
  /** How it was routed; null for an instance started on a channel directly. */
  routing: InstanceRouting | null;
}

export type ActionKind = "retry" | "move" | "cancel";

export interface ActionPreview {
  action: ActionKind;
  /** The instance's version the preview was made for, sent back with the action. */
  version: number;
  allowed: boolean;
  from: { step: string; status: InstanceStatus };
  to: { step: string; status: InstanceStatus };
  nextRunAt: number | null;
  clears: string[];
  quota: string | null;
  warnings: string[];
}

export interface BehaviorVersionRow {
  version: number;
  active: boolean;
  /** How many steps it has. */
  steps: number;
  /** Unsettled instances pinned to this version. */
  pinned: number;
}

export interface DefinitionsListing {
  channels: { code: string; name: string; timeZone: string }[];
  behaviors: { channel: string; code: string; versions: BehaviorVersionRow[] }[];
}

export interface VersionDiff {
  added: string[];
  removed: string[];
  changed: string[];
  /** `step.field` of each changed field. */
  fields: string[];
}

export type RoutingRule = "weighted-round-robin" | "sticky" | "alternate" | "next-with-quota";

export type CandidateState =
  | "chosen"
  | "ineligible"
  | "unhealthy"
  | "quota-exhausted"
  | "tried"
  | "not-needed";

export type QuotaHoldState = "reserved" | "consumed" | "released";

/** How a product's instance was routed, and the instances of its business (failovers included). */
export interface InstanceRouting {
  product: string;
  rule: RoutingRule;
  /** Decimal text; null when the product counts no amount. */
  amount: string | null;
  /** Every channel of the product, in the product's order: what it was and why. */
  candidates: {
    channel: string;
    behavior: string;
    weight: number;
    state: CandidateState;
    reason: string | null;
  }[];
  account: {
    code: string;
    rule: string;
    skipped: { account: string; reason: string }[];
  } | null;
  /** The instance this one carries the business on from, and the one it went on to. */
  failoverOf: string | null;
  failedOverTo: string | null;
  /** The channels tried before this instance's (failover). */
  tried: string[];
  quotas: {
    scope: string;
    period: string;
    amount: string;
    limitAmount: string | null;
    limitCount: number | null;
    hold: QuotaHoldState | null;
    usedAmount: string;
    usedCount: number;
  }[];
  /** The business's instances, first to last. */
  business: { id: string; channel: string; status: InstanceStatus; failoverOf: string | null }[];
}
