/**
 * Queued starts (peak shaving): starts waiting for admission per channel and behavior, first in
 * first out, each with an expiry and a retry budget (migration 0012 in @capflow/store-knex).
 */
export interface StartQueueStore {
  /** Queues a start; the same (channel, behavior, businessKey) still queued is returned instead. */
  enqueue(start: NewQueuedStart): Promise<{ queued: QueuedStart; created: boolean }>;
  /** Marks queued starts whose `expiresAt` passed as expired, and returns them. */
  expireDue(now: number): Promise<QueuedStart[]>;
  /** The oldest queued starts of a channel and behavior (FIFO by enqueue time, then id). */
  oldestQueued(request: {
    channel: string;
    behavior: string;
    limit: number;
  }): Promise<QueuedStart[]>;
  /** The start went through: its instance. */
  markStarted(id: string, instanceId: string, now: number): Promise<void>;
  /** A start attempt failed: counted; `giveUp` ends it as `failed` (its retry budget is spent). */
  markAttemptFailed(
    id: string,
    error: { code: string; message: string },
    now: number,
    giveUp: boolean,
  ): Promise<QueuedStart>;
  /** Unsettled instances of a channel and behavior (what the queue's concurrency counts). */
  unsettledCount(channel: string, behavior: string): Promise<number>;
  /** Queue depth and the oldest queued start's age, per channel and behavior. */
  queueDepths(): Promise<QueueDepth[]>;
  getQueued(id: string): Promise<QueuedStart | undefined>;
}

export type QueuedStartStatus = "queued" | "started" | "expired" | "failed";

export interface NewQueuedStart {
  id: string;
  channel: string;
  behavior: string;
  businessKey: string;
  input: Record<string, unknown>;
  enqueuedAt: number;
  expiresAt: number;
}

export interface QueuedStart extends NewQueuedStart {
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
