import type { MigrationReport, NotificationResendOutcome } from "@capflow/core";
import type { Operator } from "../auth/operator.ts";
import type { BehaviorGraphView } from "./behavior-graph-view.ts";
import type {
  HistoryEntryView,
  InstanceDetailView,
  InstanceSummaryView,
} from "./instance-views.ts";
import type { NotificationView } from "./notification-view.ts";
import type { TokenView } from "./token-routes.ts";

/**
 * The bodies of the operator API's answers that wrap a view (the views are in `*-view(s).ts`):
 * the console and scripts read exactly these, so a change here is a change of the wire format.
 */

/** A keyset page: pass `nextCursor` as `?cursor=` for the next one; null on the last page. */
export interface ListPage<Item> {
  items: Item[];
  nextCursor: string | null;
}

/** An unpaged listing: `{ items }`. */
export interface ItemList<Item> {
  items: Item[];
}

/** `GET /v1/ops/whoami`: the operator the request authenticated as. */
export interface WhoamiAnswer {
  operator: Operator;
}

/** `GET /v1/ops/instances/:id`: the instance with its data (masked) and history. */
export interface InstanceAnswer {
  instance: InstanceDetailView;
}

/** `POST /v1/ops/instances/:id/retry`, `/move`, `/cancel`: the instance as it is after. */
export interface InstanceSummaryAnswer {
  instance: InstanceSummaryView;
}

/**
 * `POST /v1/ops/instances` (start): the instance started, or the one already started for the
 * business key, with its routing record as `GET /v1/ops/instances/:id` serves it: which channel a
 * product's start took and why, in the answer to the start itself.
 */
export interface StartedInstanceAnswer {
  instance: InstanceSummaryView & Pick<InstanceDetailView, "routing">;
}

/** `GET /v1/ops/instances/:id/graph`: its pinned version's graph, where it may be moved, its zone. */
export interface InstanceGraphAnswer {
  graph: BehaviorGraphView;
  /** Every step of its pinned version. */
  moveTargets: string[];
  /** Its channel's time zone (UTC when the channel is not stored). */
  timeZone: string;
}

/** One entry of `GET /v1/ops/late-notifications`: a history entry and its instance. */
export interface LateNotificationView extends HistoryEntryView {
  instanceId: string;
}

/** `POST /v1/ops/notifications/:id/resend`: the notification, scheduled to be delivered again. */
/**
 * `POST /v1/ops/notifications/:id/resend`: the notification after the request, and what it did:
 * `resent` (due now on a fresh schedule, recorded in the instance's history), or
 * `awaitingFirstAttempt` (pending and not attempted since it was written or last re-sent: due
 * already, so nothing was re-sent, changed or recorded).
 */
export interface NotificationResendAnswer {
  notification: NotificationView;
  outcome: NotificationResendOutcome;
}

/** `POST /v1/ops/migrations`: what moved (or, on a dry run, would), what was refused and why. */
export interface MigrationAnswer {
  report: MigrationReport;
}

/** `POST /v1/ops/tokens` (201): the new token, shown this once, and how it is listed. */
export interface IssuedTokenAnswer extends TokenView {
  token: string;
}

/** `POST /v1/ops/tokens/:id/revoke`: the token as revoked. */
export interface RevokedTokenAnswer {
  token: TokenView;
}
