/**
 * The operator API as the console reads it. Each answer's shape is the server's own, imported
 * from `@capflow/server` as types only (nothing of the server reaches the browser bundle), so a
 * server change the console does not follow fails `pnpm typecheck`. What is declared here is the
 * console's reading of those shapes: times as epoch milliseconds instead of ISO text, absent
 * instead of null, an instance with its channel's time zone and whether it is parked.
 */
import type {
  AccountLimitView,
  ActionPreviewView,
  AttentionGroupView,
  BehaviorGraphView,
  BehaviorVersionView,
  BusinessInstanceView,
  DefinitionsView,
  HistoryEntryView,
  InboxEntryView,
  InstanceDetailView,
  InstanceGraphAnswer,
  InstanceRoutingView,
  InstanceSummaryView,
  NotificationView,
  OutboxBacklogView,
  OverviewRowView,
  OverviewView,
  PartnerInterfaceView,
  RoutingView,
  TokenView,
  VersionDiffView,
  WhoamiAnswer,
} from "@capflow/server";

/** Answers the console shows as the server sends them. */
export type Operator = WhoamiAnswer["operator"];
export type Overview = OverviewView;
export type OverviewRow = OverviewRowView;
export type AttentionGroup = AttentionGroupView;
export type OutboxBacklog = OutboxBacklogView;
/** One channel interface's health across the cluster. */
export type PartnerRow = PartnerInterfaceView;
/** A channel account's own limits (a funder's limit per merchant id). */
export type AccountLimitRow = AccountLimitView;
export type BehaviorGraph = BehaviorGraphView;
export type GraphNode = BehaviorGraphView["nodes"][number];
export type GraphEdge = BehaviorGraphView["edges"][number];
export type DefinitionsListing = DefinitionsView;
export type BehaviorVersionRow = BehaviorVersionView;
export type VersionDiff = VersionDiffView;

export type Role = Operator["role"];
export type InstanceStatus = InstanceSummaryView["status"];
export type AttentionKind = AttentionGroupView["kind"];
export type BreakerState = NonNullable<PartnerInterfaceView["breaker"]>["state"];
export type ActionKind = ActionPreviewView["action"];
export type RoutingRule = RoutingView["rule"];
export type CandidateState = RoutingView["candidates"][number]["state"];
export type QuotaHoldState = NonNullable<RoutingView["quotas"][number]["hold"]>;

/** Every status, in the console's order. */
export const instanceStatuses = [
  "active",
  "waiting",
  "succeeded",
  "failed",
  "manual",
  "cancelled",
] as const satisfies readonly InstanceStatus[];

/** The roles a token may have, least first (the form offers them in this order). */
export const tokenRoles = ["viewer", "operator", "admin"] as const satisfies readonly Role[];

type EveryStatusListed<Unlisted extends never> = Unlisted;
/** `never`, and compiles only while so: `instanceStatuses` names every status the server sends. */
export type UnlistedStatus = EveryStatusListed<
  Exclude<InstanceStatus, (typeof instanceStatuses)[number]>
>;
/** `never`, and compiles only while so: `tokenRoles` names every role the server knows. */
export type UnlistedRole = EveryStatusListed<Exclude<Role, (typeof tokenRoles)[number]>>;

/** The fields of `T` named `K`, left out when the server sends null. */
type PresentUnlessNull<T, K extends keyof T> = { [P in K]?: NonNullable<T[P]> };

export interface InstanceSummary
  extends Pick<
    InstanceSummaryView,
    | "id"
    | "version"
    | "channel"
    | "behavior"
    | "behaviorVersion"
    | "businessKey"
    | "step"
    | "status"
    | "attempt"
    | "lastError"
  > {
  /** Left at its step with no next run and an error recorded: needs an operator. */
  parked: boolean;
  nextRunAt: number | null;
  createdAt: number;
  updatedAt: number;
  /** Its channel's time zone, for the times shown. */
  timeZone: string;
}

export interface SearchPage {
  instances: InstanceSummary[];
  /** Cursor of the next page; null on the last one. */
  next: string | null;
}

export interface HistoryEntry
  extends Pick<HistoryEntryView, "id" | "version" | "step" | "attempt" | "event" | "durationMs">,
    PresentUnlessNull<
      HistoryEntryView,
      "fromStep" | "toStep" | "fromStatus" | "toStatus" | "outcome" | "error" | "actor"
    > {
  /** Masked as stored. */
  request?: unknown;
  response?: unknown;
  /** A summary of flow-control refusals: how many, by reason, the last one's time. */
  refusals?: HistoryRefusals;
  startedAt: number;
}

export interface HistoryRefusals extends Omit<NonNullable<HistoryEntryView["refusals"]>, "lastAt"> {
  lastAt: number;
}

export interface InboxRow extends Pick<InboxEntryView, "id" | "callback" | "instanceId"> {
  receivedAt: number;
  processedAt: number | null;
}

export interface NotificationRow
  extends Pick<NotificationView, "id" | "type" | "status" | "attempts" | "lastError"> {
  createdAt: number;
  deliveredAt: number | null;
  resent: { by: string; at: number; why: string | null } | null;
}

export interface InstanceDetail {
  instance: InstanceSummary & Pick<InstanceDetailView, "context">;
  history: HistoryEntry[];
  inbox: InboxRow[];
  notifications: NotificationRow[];
  graph: BehaviorGraph;
  /** Steps the instance may be moved to (its pinned version's steps). */
  moveTargets: InstanceGraphAnswer["moveTargets"];
  /** How it was routed; null for an instance started on a channel directly. */
  routing: InstanceRouting | null;
}

export interface ActionPreview extends Omit<ActionPreviewView, "nextRunAt"> {
  nextRunAt: number | null;
}

/** How a product's instance was routed, and the instances of its business (failovers included). */
export interface InstanceRouting
  extends Pick<RoutingView, "rule" | "amount" | "candidates" | "account" | "quotas">,
    Pick<InstanceRoutingView, "failoverOf" | "failedOverTo"> {
  product: string;
  /** The channels tried before this instance's (failover). */
  tried: string[];
  /** The business's instances, first to last. */
  business: Pick<BusinessInstanceView, "id" | "channel" | "status" | "failoverOf">[];
}

/** An operator token as listed: never its secret, which the server shows once, when it is made. */
export interface TokenRow
  extends Pick<
    TokenView,
    "id" | "name" | "role" | "createdBy" | "createdReason" | "revokedBy" | "revokedReason"
  > {
  createdAt: number;
  revokedAt: number | null;
  /** When it last authenticated a request, to the minute; null when not since this was kept. */
  lastUsedAt: number | null;
}

/** A token just made: its secret, which nobody can read again, and its row. */
export interface IssuedToken {
  secret: string;
  token: TokenRow;
}
