/**
 * Queued starts (peak shaving): starts waiting for admission per channel and behavior, first in
 * first out, each with an expiry and a retry budget (migration 0012 in @capflow/store-knex).
 */
export interface StartQueueStore {
  /** Queues a start; the same (channel, behavior, businessKey) still queued is returned instead. */
  enqueue(start: NewQueuedStart): Promise<{ queued: QueuedStart; created: boolean }>;
  /**
   * Queues a start only if its business key was never queued (in any state) and has no instance;
   * otherwise answers what the first start became: its newest queued start, or its instance.
   * Concurrent calls for one business key queue it once.
   */
  enqueueOnce(start: NewQueuedStart): Promise<FirstEnqueue>;
  /** The newest queued start of a business key, whatever its state; undefined if never queued. */
  findQueued(key: {
    channel: string;
    behavior: string;
    businessKey: string;
  }): Promise<QueuedStart | undefined>;
  /**
   * Marks queued starts whose `expiresAt` passed as expired, and returns them. A start whose
   * business has an instance of its client by then is not expired: with the start's own input
   * (`inputDigest` equal to the instance's) it is closed as started with that instance and not
   * returned; with other input it is returned `failed`, its `lastError` the engine's
   * `INSTANCE_INPUT_MISMATCH` refusal naming that instance, as `markAttemptFailed` gives it up,
   * and never linked to it. With `notify`, a `start.expired` (or, for a failed one,
   * `start.gave-up`) notification for each start's upstream client is written to the outbox in
   * the same statement, so an expiry never commits without it.
   */
  expireDue(now: number, options?: { notify?: boolean }): Promise<QueuedStart[]>;
  /**
   * Marks the queued starts of a channel and behavior enqueued before `before` as expired, with
   * `reason` as their `lastError` (a cut-off, 日切, ended the business day they were queued for),
   * and returns them; a start whose business has an instance by then is closed as started (same
   * input) or returned failed (other input), as in `expireDue`. With `notify`, each
   * `start.expired` notification (its `error` the reason; `start.gave-up` for a failed one) is
   * written to the outbox in the same statement.
   */
  expireQueuedBefore(
    request: {
      channel: string;
      behavior: string;
      before: number;
      now: number;
      reason: { code: string; message: string };
    },
    options?: { notify?: boolean },
  ): Promise<QueuedStart[]>;
  /**
   * The oldest queued starts of a channel and behavior (FIFO by enqueue time, then id) whose
   * `expiresAt` is after `now`: a start whose time to live passed is expired, never admitted.
   */
  oldestQueued(request: {
    channel: string;
    behavior: string;
    limit: number;
    now: number;
  }): Promise<QueuedStart[]>;
  /**
   * The start went through: its instance (only while it is still queued: compare-and-set).
   * Returns whether this call marked it; false when another node started or expired it meanwhile.
   */
  markStarted(id: string, instanceId: string, now: number): Promise<boolean>;
  /**
   * The engine refused a start attempt: counted, with `error` as its last error; `giveUp` ends it
   * as `failed` (its retry budget is spent). With `notify`, giving up writes a `start.gave-up`
   * notification in the same statement. A compare-and-set on the start being still queued: a start
   * another node marked started or expired meanwhile is left as it is. A start whose business has
   * an instance with its own input (`inputDigest`, the digest of the start's input as the engine
   * computes it; the refusal came after the engine made it) is closed as started with that
   * instance instead, and never told upstream as failed; an instance with other input does not
   * count (the refusal is that mismatch). Returns the start as
   * it is after the statement (queued, failed, started or as another node left it; undefined
   * when there is no such start) and whether this statement changed it (`changed`: false when
   * another node's round had started or ended it, which that round reported).
   */
  markAttemptFailed(
    id: string,
    error: { code: string; message: string },
    now: number,
    giveUp: boolean,
    options: { notify?: boolean; inputDigest: string },
  ): Promise<{ start: QueuedStart | undefined; changed: boolean }>;
  /**
   * Starts of a channel and behavior admitted after `since` (epoch ms), by any node: what the
   * queue's rate counts, so it holds however many nodes take turns admitting.
   */
  admittedSince(channel: string, behavior: string, since: number): Promise<number>;
  /** Unsettled instances of a channel and behavior (what the queue's concurrency counts). */
  unsettledCount(channel: string, behavior: string): Promise<number>;
  /** Queue depth and the oldest queued start's age, per channel and behavior. */
  queueDepths(): Promise<QueueDepth[]>;
  getQueued(id: string): Promise<QueuedStart | undefined>;
}

/** What `enqueueOnce` did: queued the start, or found the business key queued or started before. */
export type FirstEnqueue =
  | { outcome: "queued"; queued: QueuedStart }
  | { outcome: "queued-before"; queued: QueuedStart }
  | {
      outcome: "started-before";
      /** `upstreamClient`: the client that started it, null for none. */
      instance: { id: string; inputDigest: string; upstreamClient: string | null };
    };

export type QueuedStartStatus = "queued" | "started" | "expired" | "failed";

export interface NewQueuedStart {
  id: string;
  channel: string;
  behavior: string;
  businessKey: string;
  input: Record<string, unknown>;
  /**
   * The digest of `input` as the engine computes it for an instance's `inputDigest`: an expiring
   * start is closed as started only with an instance of the same digest.
   */
  inputDigest: string;
  enqueuedAt: number;
  expiresAt: number;
  /** The upstream client that asked for the start: its instance's and its expiry's notifications go to it. */
  upstreamClient?: string | null;
}

export interface QueuedStart extends NewQueuedStart {
  upstreamClient: string | null;
  status: QueuedStartStatus;
  attempts: number;
  instanceId: string | null;
  lastError: { code: string; message: string } | null;
  finishedAt: number | null;
}

export interface QueueDepth {
  channel: string;
  behavior: string;
  depth: number;
  /** Enqueue time of the oldest queued start; null when none is queued. */
  oldestEnqueuedAt: number | null;
}

/**
 * The body of a notification telling the upstream that a queued start was never started: it
 * expired in the queue (`start.expired`; `error` null after its time to live, the reason after a
 * cut-off, `CALENDAR_CUTOFF_EXPIRED`) or its retry budget ran out (`start.gave-up`, with the last
 * refusal in `error`). Delivered through the outbox like instance notifications; its event
 * id is the queued start's id with the event's name, the same on every delivery.
 */
export interface QueuedStartNotificationPayload {
  id: string;
  type: "start.expired" | "start.gave-up";
  /** When the expiry or give-up committed (ISO 8601, UTC). */
  occurredAt: string;
  start: {
    id: string;
    channel: string;
    behavior: string;
    businessKey: string;
    enqueuedAt: string;
    expiresAt: string;
    attempts: number;
  };
  /** The refusal or reason in its public form (code, `retryable`, a fixed sentence). */
  error: { code: string; retryable: boolean; message: string } | null;
}
