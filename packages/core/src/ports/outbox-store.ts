import type { AttentionReason } from "../engine/engine-events.ts";
import type { InstanceStatus, StoredError } from "./instance-store.ts";
import type { QueuedStartNotificationPayload } from "./start-queue-store.ts";

/**
 * The transactional outbox: notifications for the upstream platform, written by
 * `InstanceStore.commitTransition` in the same transaction as the state change they report
 * (`Transition.notification`), then delivered by an `OutboxDispatcher`. A change that does not
 * commit writes no notification; one that commits always has its notification.
 *
 * Both built-in stores (`MemoryInstanceStore`, `KnexInstanceStore`) implement it; every
 * implementation passes `describeOutboxContract` in @capflow/testkit.
 */
export interface OutboxStore {
  /**
   * Leases up to `limit` pending notifications due at `now` (`nextAttemptAt <= now`, lease free or
   * expired) to `owner` until `now + leaseMs`, each to exactly one caller, oldest due first. Each
   * claim counts as an attempt (`attempts + 1`), so a dispatcher that dies while delivering one
   * still moves it along its retry schedule.
   */
  claimNotifications(request: NotificationClaim): Promise<NotificationRecord[]>;
  /**
   * Records the result of a delivery. `delivered` is recorded whoever holds the lease (the receiver
   * acknowledged it: that is the truth) unless it was delivered already; a failure only by the
   * lease's owner while the notification is pending (a dispatcher whose lease ran out and was
   * taken over must not undo the new owner's work). Returns whether anything was recorded.
   */
  recordDelivery(result: DeliveryResult): Promise<boolean>;
  getNotification(id: string): Promise<NotificationRecord | undefined>;
  /** Notifications matching the filter, newest first by (createdAt, id), keyset paged by `before`. */
  listNotifications(filter: NotificationFilter): Promise<NotificationRecord[]>;
  /**
   * Makes a notification pending and due at `now` again, with a fresh retry schedule (attempts
   * back to 0), whatever its status: an operator re-sends a failed one, or a delivered one the
   * upstream lost. In the same transaction it records who did it and why on the notification and
   * as an entry (event `operator`, outcome `resendNotification:<id>`, `actor: { who, why }`) in
   * the history of the notification's instance, at the version the instance has: the instance
   * itself is not changed (no compare-and-set, its version stays), so a worker mid-step keeps its
   * ownership. A notification still pending and not attempted since it was written or last
   * re-sent is already due: it is returned as it is, with `outcome: "awaitingFirstAttempt"`, and
   * nothing is recorded (a repeated request repeats nothing). Undefined when there is no such
   * notification.
   */
  resendNotification(request: ResendRequest): Promise<NotificationResend | undefined>;
  /** Pending and failed notifications counted, and the oldest pending one's creation time. */
  outboxBacklog(): Promise<OutboxBacklog>;
}

/** Whether a store keeps an outbox (the engine writes notifications only into one that does). */
export function isOutboxStore(store: object): store is OutboxStore {
  const candidate = store as Partial<OutboxStore>;
  return (
    typeof candidate.claimNotifications === "function" &&
    typeof candidate.recordDelivery === "function" &&
    typeof candidate.listNotifications === "function"
  );
}

/** What a notification reports. Attention ones say why in `payload.reason`. */
export type NotificationType =
  | "instance.succeeded"
  | "instance.failed"
  | "instance.cancelled"
  | "instance.attention"
  /** A queued start expired, or was given up, unstarted (peak shaving). */
  | "start.expired"
  | "start.gave-up";

/** `pending` until acknowledged (`delivered`) or the retry schedule runs out (`failed`). */
export type NotificationStatus = "pending" | "delivered" | "failed";

/** The JSON body delivered to the upstream, exactly as stored. */
export interface NotificationPayload {
  /** The event id: stable across re-deliveries and re-sends; receivers deduplicate on it. */
  id: string;
  type: NotificationType;
  /** When the state change committed (ISO 8601, UTC). */
  occurredAt: string;
  instance: {
    id: string;
    channel: string;
    behavior: string;
    businessKey: string;
    product: string | null;
    status: InstanceStatus;
    step: string;
    /** The instance version this change produced: orders two notifications of one instance. */
    version: number;
  };
  /** Why it needs a person (`instance.attention` only). */
  reason?: AttentionReason;
  /**
   * The fields extracted so far, by step code, masked with the channel's and behavior's rules;
   * null when the rules could not be read (then nothing unmasked is sent).
   */
  result: Record<string, unknown> | null;
  /**
   * The instance's last error in its public form (docs/serving.md "Errors the upstream reads"):
   * its code, whether it is of a kind that passes, and a fixed sentence naming no address or path.
   */
  error: { code: string; retryable: boolean; message: string } | null;
}

/** A notification written with a transition. */
export interface NewNotification {
  /** The event id (`payload.id`). */
  id: string;
  /** The instance it reports on; for `start.*`, the queued start's id. */
  instanceId: string;
  type: NotificationType;
  payload: NotificationPayload | QueuedStartNotificationPayload;
  /** Whom it is for (an upstream client id); null: the dispatcher's default target. */
  target: string | null;
  /** When the change committed. */
  createdAt: number;
  /** When the first delivery is due (the first entry of the retry schedule). */
  nextAttemptAt: number;
}

export interface NotificationRecord extends Omit<NewNotification, "nextAttemptAt"> {
  status: NotificationStatus;
  /** Deliveries tried (claims) since it was written or last re-sent. */
  attempts: number;
  /** When the next delivery is due; null once delivered or failed. */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastError: StoredError | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** The last operator re-send, if any. */
  /** The last re-send: who asked, when, and why (null `why` for a re-send stored without one). */
  resent: { by: string; at: number; why: string | null } | null;
}

export interface NotificationClaim {
  owner: string;
  now: number;
  leaseMs: number;
  limit: number;
  /**
   * The dispatcher's retry schedule: the wait in milliseconds before each attempt. With it, the
   * claim also moves `nextAttemptAt` to `now` plus the wait before the attempt after this one
   * (left as it is past the schedule's end), so a notification whose attempt is never recorded
   * (its dispatcher died) comes back on the schedule rather than at every lease's end.
   */
  scheduleMs?: readonly number[];
  /**
   * Targets whose notifications are not claimed now (`null`: the default target): the dispatcher
   * has as many of theirs in flight as it allows one receiver, so a slow receiver cannot take
   * every slot. A store that ignores it still delivers everything, without that isolation.
   */
  skipTargets?: readonly (string | null)[];
  /**
   * At most `limit` notifications of one target in flight at the dispatcher: the claim brings at
   * most `limit` of a target less what `inFlight` says the dispatcher already holds of it (a
   * target absent from `inFlight` holds none), while the rest of the claim goes to other targets
   * in due order. One claim then fills every free slot, where a claim limited to the smallest
   * target's room could bring one notification at a time. A store that ignores it can hand one
   * target more than its share (delivery stays correct, the isolation does not).
   */
  perTarget?: {
    limit: number;
    inFlight?: readonly { target: string | null; count: number }[];
  };
}

export type DeliveryResult =
  | { id: string; owner: string; now: number; delivered: true }
  | {
      id: string;
      owner: string;
      now: number;
      delivered: false;
      error: StoredError;
      /** When to try again; null gives up (`failed`, still listed and re-sendable). */
      nextAttemptAt: number | null;
    };

export interface NotificationFilter {
  status?: NotificationStatus[];
  instanceId?: string;
  /** Only notifications before this one in the listing's order (the last row of the previous page). */
  before?: { createdAt: number; id: string };
  limit?: number;
}

export interface ResendRequest {
  id: string;
  now: number;
  /** The authenticated operator. */
  by: string;
  /** Why: recorded with `by` on the notification and in the instance's history. */
  why: string;
}

/** What a re-send did, and the notification after it. */
export interface NotificationResend {
  notification: NotificationRecord;
  outcome: NotificationResendOutcome;
}

/**
 * `resent`: pending and due now on a fresh retry schedule, recorded with who and why.
 * `awaitingFirstAttempt`: pending and not attempted since it was written or last re-sent, so due
 * already: nothing changed and nothing recorded.
 */
export type NotificationResendOutcome = "resent" | "awaitingFirstAttempt";

export interface OutboxBacklog {
  pending: number;
  /** Given up after the retry schedule, not re-sent since. */
  failed: number;
  /** Creation time of the oldest pending notification; null when none is pending. */
  oldestPendingAt: number | null;
}
