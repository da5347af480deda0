import type {
  DeliveryResult,
  NewNotification,
  NotificationClaim,
  NotificationFilter,
  NotificationRecord,
  NotificationResend,
  OutboxBacklog,
  OutboxStore,
  ResendRequest,
} from "../ports/outbox-store.ts";

/**
 * The outbox of `MemoryInstanceStore`: notifications it writes in `commitTransition`, and the
 * `OutboxStore` operations over them. Records are copied in and out like the store's own.
 */
export class MemoryOutbox implements OutboxStore {
  readonly #rows = new Map<string, NotificationRecord>();

  /** Called by the store once a transition has passed every check (so only a committed one). */
  insert(notification: NewNotification): void {
    if (this.#rows.has(notification.id)) {
      throw new Error(`notification ${notification.id} exists already`);
    }
    this.#rows.set(notification.id, {
      ...structuredClone(notification),
      status: "pending",
      attempts: 0,
      deliveredAt: null,
      lastError: null,
      leaseOwner: null,
      leaseUntil: null,
      resent: null,
    });
  }

  /** Whether inserting this notification would fail (checked before a commit changes anything). */
  has(id: string): boolean {
    return this.#rows.has(id);
  }

  async claimNotifications(request: NotificationClaim): Promise<NotificationRecord[]> {
    const due = [...this.#rows.values()]
      .filter(
        (row) =>
          row.status === "pending" &&
          row.nextAttemptAt !== null &&
          row.nextAttemptAt <= request.now &&
          (row.leaseUntil === null || row.leaseUntil <= request.now) &&
          !(request.skipTargets?.includes(row.target) ?? false),
      )
      .sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || compareIds(a.id, b.id))
      .filter(withinTargetRoom(request))
      .slice(0, request.limit);
    return due.map((row) => {
      row.leaseOwner = request.owner;
      row.leaseUntil = request.now + request.leaseMs;
      // Should this attempt never be recorded, the next one waits as the schedule says.
      const wait = request.scheduleMs?.[row.attempts + 1];
      if (wait !== undefined) row.nextAttemptAt = request.now + wait;
      row.attempts += 1;
      return structuredClone(row);
    });
  }

  async recordDelivery(result: DeliveryResult): Promise<boolean> {
    const row = this.#rows.get(result.id);
    if (row === undefined) return false;
    if (result.delivered) {
      if (row.status === "delivered") return false;
      Object.assign(row, {
        status: "delivered",
        deliveredAt: result.now,
        nextAttemptAt: null,
        leaseOwner: null,
        leaseUntil: null,
      });
      return true;
    }
    if (row.status !== "pending" || row.leaseOwner !== result.owner) return false;
    Object.assign(row, {
      status: result.nextAttemptAt === null ? "failed" : "pending",
      nextAttemptAt: result.nextAttemptAt,
      lastError: { ...result.error },
      leaseOwner: null,
      leaseUntil: null,
    });
    return true;
  }

  async getNotification(id: string): Promise<NotificationRecord | undefined> {
    const row = this.#rows.get(id);
    return row && structuredClone(row);
  }

  async listNotifications(filter: NotificationFilter): Promise<NotificationRecord[]> {
    const { before } = filter;
    const rows = [...this.#rows.values()]
      .filter(
        (row) =>
          (filter.status === undefined || filter.status.includes(row.status)) &&
          (filter.instanceId === undefined || row.instanceId === filter.instanceId) &&
          (before === undefined ||
            row.createdAt < before.createdAt ||
            (row.createdAt === before.createdAt && compareIds(row.id, before.id) < 0)),
      )
      .sort((a, b) => b.createdAt - a.createdAt || compareIds(b.id, a.id));
    return (filter.limit === undefined ? rows : rows.slice(0, filter.limit)).map((row) =>
      structuredClone(row),
    );
  }

  async resendNotification(request: ResendRequest): Promise<NotificationResend | undefined> {
    return this.resend(request);
  }

  /**
   * The re-send, synchronously (the store records its history entry in the same turn): a
   * notification still pending and not attempted since it was written or last re-sent is left as
   * it is (`awaitingFirstAttempt`).
   */
  resend(request: ResendRequest): NotificationResend | undefined {
    const row = this.#rows.get(request.id);
    if (row === undefined) return undefined;
    if (row.status === "pending" && row.attempts === 0)
      return { notification: structuredClone(row), outcome: "awaitingFirstAttempt" };
    Object.assign(row, {
      status: "pending",
      attempts: 0,
      nextAttemptAt: request.now,
      deliveredAt: null,
      leaseOwner: null,
      leaseUntil: null,
      resent: { by: request.by, at: request.now, why: request.why },
    });
    return { notification: structuredClone(row), outcome: "resent" };
  }

  async outboxBacklog(): Promise<OutboxBacklog> {
    const backlog: OutboxBacklog = { pending: 0, failed: 0, oldestPendingAt: null };
    for (const row of this.#rows.values()) {
      if (row.status === "delivered") continue;
      backlog[row.status] += 1;
      if (
        row.status === "pending" &&
        (backlog.oldestPendingAt === null || row.createdAt < backlog.oldestPendingAt)
      )
        backlog.oldestPendingAt = row.createdAt;
    }
    return backlog;
  }
}

/** Ids in code point order, as the database compares them (COLLATE "C"). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keeps, in due order, at most each target's room under `perTarget` (all when there is none). */
function withinTargetRoom(request: NotificationClaim): (row: { target: string | null }) => boolean {
  const { perTarget } = request;
  if (perTarget === undefined) return () => true;
  const room = new Map<string | null, number>();
  for (const { target, count } of perTarget.inFlight ?? []) {
    room.set(target, perTarget.limit - count);
  }
  return (row) => {
    const left = room.get(row.target) ?? perTarget.limit;
    room.set(row.target, left - 1);
    return left > 0;
  };
}
