import { randomUUID } from "node:crypto";
import type {
  DeliveryResult,
  NotificationClaim,
  NotificationFilter,
  NotificationRecord,
  NotificationResend,
  NotificationResendOutcome,
  NotificationStatus,
  NotificationType,
  OutboxBacklog,
  OutboxStore,
  ResendRequest,
  StoredError,
} from "@capflow/core";
import type { Knex } from "knex";
import { epochMs, nullableJsonParam, type Row, timeParam } from "./rows.ts";
import type { QualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * The outbox operations on knex (rows are inserted by the commit statement, see
 * `commit-statement.ts`). `KnexInstanceStore` delegates to it, so one store object is both the
 * `InstanceStore` and the `OutboxStore`, as the commit needs.
 */
export class KnexOutbox implements OutboxStore {
  readonly #knex: Knex;
  readonly #t: QualifiedNames;
  readonly #target: string;

  constructor(knex: Knex, names: QualifiedNames, target: string) {
    this.#knex = knex;
    this.#t = names;
    this.#target = target;
  }

  async claimNotifications(request: NotificationClaim): Promise<NotificationRecord[]> {
    const now = timeParam(request.now);
    // Like the instance claim: due rows in order, skipping rows another dispatcher holds locked
    // right now; a row leased meanwhile is re-checked under its lock and dropped. Should this
    // attempt never be recorded, the next one waits as the schedule says (the array is 1-based:
    // the wait before attempt attempts + 2); past its end, or without one, next_attempt_at stays.
    const skip = request.skipTargets ?? [];
    const schedule =
      request.scheduleMs === undefined ? null : `{${request.scheduleMs.map(Number).join(",")}}`;
    // With a share per target, the due rows are read a few claims deep and each target's are
    // numbered in due order, so one statement brings each target up to its room (FOR UPDATE
    // cannot go with a window function in one SELECT, hence the CTEs). Rows read but not taken
    // are locked only while the statement runs.
    const { perTarget } = request;
    const inFlight = perTarget?.inFlight ?? [];
    const rows = await this.#rows(
      `WITH due AS (
         SELECT id, target, next_attempt_at FROM ${this.#t.outbox}
         WHERE status = 'pending' AND next_attempt_at <= ?
           AND (lease_until IS NULL OR lease_until <= ?)
           AND NOT (target IS NULL AND ?::boolean)
           AND (target IS NULL OR target <> ALL (?::text[]))
         ORDER BY next_attempt_at, id COLLATE "C"
         LIMIT ?
         FOR UPDATE SKIP LOCKED
       ), chosen AS (
         SELECT id FROM (
           SELECT d.id, d.next_attempt_at,
             row_number() OVER (PARTITION BY d.target ORDER BY d.next_attempt_at, d.id COLLATE "C") AS nth,
             COALESCE(?::int - held.count, ?::int) AS room
           FROM due d
           LEFT JOIN unnest(?::text[], ?::int[]) AS held(target, count)
             ON held.target IS NOT DISTINCT FROM d.target
         ) ranked
         WHERE room IS NULL OR nth <= room
         ORDER BY next_attempt_at, id COLLATE "C"
         LIMIT ?
       )
       UPDATE ${this.#t.outbox} SET lease_owner = ?, lease_until = ?, attempts = attempts + 1,
         next_attempt_at = COALESCE(
           ?::timestamptz + (?::double precision[])[attempts + 2] * interval '1 millisecond',
           next_attempt_at)
       WHERE id IN (SELECT id FROM chosen)
       RETURNING *`,
      [
        now,
        now,
        skip.includes(null),
        skip.filter((target): target is string => target !== null),
        perTarget === undefined
          ? request.limit
          : Math.max(request.limit, Math.min(request.limit * 4, 1_000)),
        perTarget?.limit ?? null,
        perTarget?.limit ?? null,
        inFlight.map((held) => held.target),
        inFlight.map((held) => held.count),
        request.limit,
        request.owner,
        timeParam(request.now + request.leaseMs),
        now,
        schedule,
      ],
    );
    return rows
      .map(notificationFromRow)
      .sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || compareIds(a.id, b.id));
  }

  async recordDelivery(result: DeliveryResult): Promise<boolean> {
    const rows = result.delivered
      ? await this.#rows(
          `UPDATE ${this.#t.outbox}
           SET status = 'delivered', delivered_at = ?, next_attempt_at = NULL,
               lease_owner = NULL, lease_until = NULL
           WHERE id = ? AND status <> 'delivered'
           RETURNING id`,
          [timeParam(result.now), result.id],
        )
      : await this.#rows(
          `UPDATE ${this.#t.outbox}
           SET status = ?, next_attempt_at = ?, last_error = ?::jsonb, failed_at = ?,
               lease_owner = NULL, lease_until = NULL
           WHERE id = ? AND status = 'pending' AND lease_owner = ?
           RETURNING id`,
          [
            result.nextAttemptAt === null ? "failed" : "pending",
            timeParam(result.nextAttemptAt),
            nullableJsonParam(result.error),
            // When it ran out of retries: what retention counts a failed notification's age from.
            result.nextAttemptAt === null ? timeParam(result.now) : null,
            result.id,
            result.owner,
          ],
        );
    return rows.length > 0;
  }

  async getNotification(id: string): Promise<NotificationRecord | undefined> {
    const [row] = await this.#rows(`SELECT * FROM ${this.#t.outbox} WHERE id = ?`, [id]);
    return row && notificationFromRow(row);
  }

  async listNotifications(filter: NotificationFilter): Promise<NotificationRecord[]> {
    const where: string[] = [];
    const bindings: unknown[] = [];
    if (filter.status !== undefined) {
      where.push("status = ANY (?::text[])");
      bindings.push(filter.status);
    }
    if (filter.instanceId !== undefined) {
      where.push("instance_id = ?");
      bindings.push(filter.instanceId);
    }
    if (filter.before !== undefined) {
      where.push(`(created_at, id COLLATE "C") < (?::timestamptz, ?::text)`);
      bindings.push(timeParam(filter.before.createdAt), filter.before.id);
    }
    let sql = `SELECT * FROM ${this.#t.outbox}`;
    if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
    sql += ` ORDER BY created_at DESC, id COLLATE "C" DESC`;
    if (filter.limit !== undefined) {
      sql += " LIMIT ?";
      bindings.push(filter.limit);
    }
    return (await this.#rows(sql, bindings)).map(notificationFromRow);
  }

  async resendNotification(request: ResendRequest): Promise<NotificationResend | undefined> {
    // One statement: the re-send and its record (with the instance's version, step and status as
    // read, the instance row itself untouched), or neither. A row still pending and not attempted
    // since it was written or re-sent is due already: it is returned as it is, nothing recorded.
    const now = timeParam(request.now);
    const [row] = await this.#rows(
      `WITH resent AS (
         UPDATE ${this.#t.outbox}
         SET status = 'pending', attempts = 0, next_attempt_at = ?, delivered_at = NULL, failed_at = NULL,
             lease_owner = NULL, lease_until = NULL, resent_by = ?, resent_at = ?, resent_reason = ?
         WHERE id = ? AND NOT (status = 'pending' AND attempts = 0)
         RETURNING *
       ), recorded AS (
         INSERT INTO ${this.#t.notificationResends}
           (id, notification_id, instance_id, version, step, attempt, status, resent_by, reason,
            resent_at)
         SELECT ?::uuid, r.id, r.instance_id, i.version, i.step, i.attempt, i.status, ?, ?, ?
         FROM resent r LEFT JOIN ${this.#t.instances} i ON i.id = r.instance_id
       )
       SELECT *, 'resent' AS resend_outcome FROM resent
       UNION ALL
       SELECT *, 'awaitingFirstAttempt' AS resend_outcome FROM ${this.#t.outbox}
       WHERE id = ? AND NOT EXISTS (SELECT 1 FROM resent)`,
      [
        now,
        request.by,
        now,
        request.why,
        request.id,
        randomUUID(),
        request.by,
        request.why,
        now,
        request.id,
      ],
    );
    if (row === undefined) return undefined;
    const outcome = row.resend_outcome as NotificationResendOutcome;
    if (outcome === "resent") return { notification: notificationFromRow(row), outcome };
    // Not re-sent: the update may have waited for another operator's re-send of this row and
    // then left it, while the statement's own read still shows the row as it was before that
    // re-send. Read it again, as it is now.
    const current = await this.getNotification(request.id);
    return current && { notification: current, outcome };
  }

  async outboxBacklog(): Promise<OutboxBacklog> {
    // From the partial index of undelivered rows: cheap however many were delivered.
    const rows = await this.#rows(
      `SELECT status, count(*) AS count, min(created_at) AS oldest
       FROM ${this.#t.outbox} WHERE status <> 'delivered' GROUP BY status`,
      [],
    );
    const backlog: OutboxBacklog = { pending: 0, failed: 0, oldestPendingAt: null };
    for (const row of rows) {
      const status = row.status as "pending" | "failed";
      backlog[status] = Number(row.count);
      if (status === "pending" && row.oldest != null) backlog.oldestPendingAt = epochMs(row.oldest);
    }
    return backlog;
  }

  async #rows(sql: string, bindings: readonly unknown[]): Promise<Row[]> {
    try {
      const result = (await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] };
      return result.rows;
    } catch (cause) {
      throw translateStoreError(cause, { target: this.#target, context: {} });
    }
  }
}

export function notificationFromRow(row: Row): NotificationRecord {
  return {
    id: row.id as string,
    instanceId: row.instance_id as string,
    type: row.type as NotificationType,
    payload: row.payload as NotificationRecord["payload"],
    target: (row.target ?? null) as string | null,
    createdAt: epochMs(row.created_at),
    status: row.status as NotificationStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: row.next_attempt_at == null ? null : epochMs(row.next_attempt_at),
    deliveredAt: row.delivered_at == null ? null : epochMs(row.delivered_at),
    lastError: (row.last_error ?? null) as StoredError | null,
    leaseOwner: (row.lease_owner ?? null) as string | null,
    leaseUntil: row.lease_until == null ? null : epochMs(row.lease_until),
    resent:
      row.resent_by == null
        ? null
        : {
            by: row.resent_by as string,
            at: epochMs(row.resent_at),
            why: (row.resent_reason ?? null) as string | null,
          },
  };
}

/** Ids in code point order, as `COLLATE "C"` compares them. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
