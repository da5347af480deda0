import type {
  FirstEnqueue,
  NewQueuedStart,
  QueueDepth,
  QueuedStart,
  QueuedStartStatus,
  StartQueueStore,
} from "@capflow/core";
import { digestOf } from "@capflow/core/internal";
import type { DatabaseHandle } from "./database-handle.ts";
import { publicErrorSql } from "./public-error-sql.ts";
import { epochMs, jsonParam, type Row, timeParam } from "./rows.ts";
import { qualifiedNames, quoteIdentifier, runnableStatuses } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * A queued start's business has an instance (`q` the start, `i` the instance): a start made
 * meanwhile (a repeat queued while the first was being admitted, a refusal that came after the
 * instance was made) did start. Not another upstream client's instance: that one is none of this
 * start's client's business.
 */
const sameBusiness = `i.channel = q.channel AND i.behavior = q.behavior AND i.business_key = q.business_key
          AND (i.upstream_client IS NULL OR q.upstream_client IS NULL OR i.upstream_client = q.upstream_client)`;

/** Queued starts on PostgreSQL or PGlite (migration 0012). */
export class KnexStartQueueStore implements StartQueueStore {
  readonly #db: DatabaseHandle;
  readonly #queue: string;
  readonly #instances: string;
  readonly #outbox: string;

  constructor(db: DatabaseHandle) {
    this.#db = db;
    this.#queue = `${quoteIdentifier(db.schema)}."queued_starts"`;
    this.#instances = qualifiedNames(db.schema).instances;
    this.#outbox = qualifiedNames(db.schema).outbox;
  }

  async enqueue(start: NewQueuedStart): Promise<{ queued: QueuedStart; created: boolean }> {
    const inserted = await this.#query(
      `INSERT INTO ${this.#queue} (id, channel, behavior, business_key, input, input_digest, status, enqueued_at, expires_at, upstream_client)
      VALUES (?::uuid, ?, ?, ?, ?::jsonb, ?, 'queued', ?, ?, ?)
      ON CONFLICT (channel, behavior, business_key) WHERE status = 'queued' DO NOTHING
      RETURNING *`,
      [
        start.id,
        start.channel,
        start.behavior,
        start.businessKey,
        jsonParam(start.input),
        start.inputDigest,
        timeParam(start.enqueuedAt),
        timeParam(start.expiresAt),
        start.upstreamClient ?? null,
      ],
    );
    if (inserted[0]) return { queued: queuedFromRow(inserted[0]), created: true };
    const existing = await this.#query(
      `SELECT * FROM ${this.#queue} WHERE channel = ? AND behavior = ? AND business_key = ? AND status = 'queued'`,
      [start.channel, start.behavior, start.businessKey],
    );
    if (existing[0]) return { queued: queuedFromRow(existing[0]), created: false };
    return this.enqueue(start);
  }

  async enqueueOnce(start: NewQueuedStart): Promise<FirstEnqueue> {
    const key = [start.channel, start.behavior, start.businessKey];
    // Rows are never deleted and a start's row is written before its instance, so "never queued
    // and no instance" read in one statement cannot miss a start admitted meanwhile; two first
    // starts racing meet at the partial unique index, and one of them queues.
    const inserted = await this.#query(
      `INSERT INTO ${this.#queue} (id, channel, behavior, business_key, input, input_digest, status, enqueued_at, expires_at, upstream_client)
      SELECT ?::uuid, ?, ?, ?, ?::jsonb, ?, 'queued', ?, ?, ?
      WHERE NOT EXISTS (
        SELECT 1 FROM ${this.#queue} WHERE channel = ? AND behavior = ? AND business_key = ?
      ) AND NOT EXISTS (
        SELECT 1 FROM ${this.#instances} WHERE channel = ? AND behavior = ? AND business_key = ?
      )
      ON CONFLICT (channel, behavior, business_key) WHERE status = 'queued' DO NOTHING
      RETURNING *`,
      [
        start.id,
        ...key,
        jsonParam(start.input),
        start.inputDigest,
        timeParam(start.enqueuedAt),
        timeParam(start.expiresAt),
        start.upstreamClient ?? null,
        ...key,
        ...key,
      ],
    );
    if (inserted[0]) return { outcome: "queued", queued: queuedFromRow(inserted[0]) };
    const earlier = await this.findQueued(start);
    if (earlier) return { outcome: "queued-before", queued: earlier };
    const instances = await this.#query(
      `SELECT id, input_digest, upstream_client FROM ${this.#instances} WHERE channel = ? AND behavior = ? AND business_key = ?`,
      key,
    );
    if (instances[0]) {
      return {
        outcome: "started-before",
        instance: {
          id: instances[0].id as string,
          inputDigest: instances[0].input_digest as string,
          upstreamClient: (instances[0].upstream_client as string | null) ?? null,
        },
      };
    }
    // The start that stood in the way rolled back: try again.
    return this.enqueueOnce(start);
  }

  async findQueued(key: {
    channel: string;
    behavior: string;
    businessKey: string;
  }): Promise<QueuedStart | undefined> {
    const rows = await this.#query(
      `SELECT * FROM ${this.#queue} WHERE channel = ? AND behavior = ? AND business_key = ?
      ORDER BY seq DESC LIMIT 1`,
      [key.channel, key.behavior, key.businessKey],
    );
    return rows[0] ? queuedFromRow(rows[0]) : undefined;
  }

  async expireDue(now: number, options: { notify?: boolean } = {}): Promise<QueuedStart[]> {
    return this.#expire("q.expires_at <= ?", [timeParam(now)], now, null, options);
  }

  async expireQueuedBefore(
    request: {
      channel: string;
      behavior: string;
      before: number;
      now: number;
      reason: { code: string; message: string };
    },
    options: { notify?: boolean } = {},
  ): Promise<QueuedStart[]> {
    return this.#expire(
      "q.channel = ? AND q.behavior = ? AND q.enqueued_at < ?",
      [request.channel, request.behavior, timeParam(request.before)],
      request.now,
      request.reason,
      options,
    );
  }

  /**
   * Ends the queued starts `where` picks as expired (with `reason` as their last error, when
   * given), and, with `notify`, writes their `start.expired` notifications in the same statement.
   */
  async #expire(
    where: string,
    whereBindings: unknown[],
    now: number,
    reason: { code: string; message: string } | null,
    options: { notify?: boolean },
  ): Promise<QueuedStart[]> {
    await this.#fillInputDigests(where, whereBindings);
    // A start whose business has an instance already did start when that instance has the start's
    // own input (a repeat queued while the first was being admitted): it is closed as started with
    // that instance, never told upstream as expired. An instance with other input is another
    // business's: the start is given up with the refusal the engine would give it, as
    // `markAttemptFailed` gives it up, and never linked to it. A start whose digest is not filled
    // yet (queued by an older node meanwhile) waits for the next round. Not another upstream
    // client's instance: that one is none of this start's client's business, and its start expires.
    const rows = await this.#query(
      `WITH started AS (
        UPDATE ${this.#queue} AS q SET status = 'started', instance_id = i.id, finished_at = ?
        FROM ${this.#instances} AS i
        WHERE q.status = 'queued' AND ${where} AND ${sameBusiness} AND i.input_digest = q.input_digest
        RETURNING q.id
      ), refused AS (
        UPDATE ${this.#queue} AS q SET status = 'failed', finished_at = ?,
          last_error = jsonb_build_object('code', 'INSTANCE_INPUT_MISMATCH', 'message',
            q.channel || '/' || q.behavior || ' was already started for business key ' ||
            q.business_key || ' with different input; use a new business key or look up the existing instance ' ||
            i.id)
        FROM ${this.#instances} AS i
        WHERE q.status = 'queued' AND ${where} AND ${sameBusiness} AND i.input_digest <> q.input_digest
        RETURNING q.*
      ), ended AS (
        UPDATE ${this.#queue} AS q SET status = 'expired', finished_at = ?,
          last_error = COALESCE(?::jsonb, q.last_error)
        WHERE q.status = 'queued' AND ${where}
          AND NOT EXISTS (SELECT 1 FROM ${this.#instances} AS i WHERE ${sameBusiness})
        RETURNING q.*
      )${
        options.notify
          ? this.#notifyEnded("start.expired", reason !== null) +
            this.#notifyEnded("start.gave-up", true, "refused")
          : ""
      }
      SELECT * FROM ended UNION ALL SELECT * FROM refused`,
      [
        timeParam(now),
        ...whereBindings,
        timeParam(now),
        ...whereBindings,
        timeParam(now),
        reason === null ? null : jsonParam(reason),
        ...whereBindings,
        ...(options.notify ? [...this.#notifyBindings(now), ...this.#notifyBindings(now)] : []),
      ],
    );
    return rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map(queuedFromRow);
  }

  /**
   * Fills the input digest of the queued starts `where` picks that have none (queued before
   * migration 0044, or by an older node), from their stored input, as the engine computes it.
   */
  async #fillInputDigests(where: string, whereBindings: unknown[]): Promise<void> {
    const rows = await this.#query(
      `SELECT q.id, q.input FROM ${this.#queue} AS q
      WHERE q.status = 'queued' AND q.input_digest IS NULL AND ${where}`,
      whereBindings,
    );
    for (const row of rows) {
      await this.#query(
        `UPDATE ${this.#queue} SET input_digest = ? WHERE id = ?::uuid AND input_digest IS NULL`,
        [digestOf(jsonValue(row.input)), row.id],
      );
    }
  }

  async oldestQueued(request: {
    channel: string;
    behavior: string;
    limit: number;
    now: number;
  }): Promise<QueuedStart[]> {
    const rows = await this.#query(
      `SELECT * FROM ${this.#queue}
      WHERE channel = ? AND behavior = ? AND status = 'queued' AND expires_at > ?
      ORDER BY enqueued_at, seq LIMIT ?`,
      [request.channel, request.behavior, timeParam(request.now), request.limit],
    );
    return rows.map(queuedFromRow);
  }

  async markStarted(id: string, instanceId: string, now: number): Promise<boolean> {
    const rows = await this.#query(
      `UPDATE ${this.#queue} SET status = 'started', instance_id = ?, finished_at = ?, attempts = attempts + 1
      WHERE id = ?::uuid AND status = 'queued' RETURNING id`,
      [instanceId, timeParam(now), id],
    );
    return rows.length > 0;
  }

  async markAttemptFailed(
    id: string,
    error: { code: string; message: string },
    now: number,
    giveUp: boolean,
    options: { notify?: boolean; inputDigest: string },
  ): Promise<{ start: QueuedStart | undefined; changed: boolean }> {
    const notify = giveUp && options.notify === true;
    // Both updates are compare-and-sets on the start still being queued, and exclude each other
    // (an instance of its business with the start's own input exists, or none does). An instance
    // with other input is another business's: the start is refused, never linked to it.
    const rows = await this.#query(
      `WITH started AS (
        UPDATE ${this.#queue} AS q SET status = 'started', instance_id = i.id, finished_at = ?,
          attempts = q.attempts + 1
        FROM ${this.#instances} AS i
        WHERE q.id = ?::uuid AND q.status = 'queued' AND ${sameBusiness} AND i.input_digest = ?
        RETURNING q.*
      ), ended AS (
        UPDATE ${this.#queue} AS q SET attempts = q.attempts + 1, last_error = ?::jsonb,
          status = CASE WHEN ? THEN 'failed' ELSE q.status END,
          finished_at = CASE WHEN ? THEN ?::timestamptz ELSE q.finished_at END
        WHERE q.id = ?::uuid AND q.status = 'queued'
          AND NOT EXISTS (SELECT 1 FROM ${this.#instances} AS i
            WHERE ${sameBusiness} AND i.input_digest = ?)
        RETURNING q.*
      )${notify ? this.#notifyEnded("start.gave-up") : ""}
      SELECT * FROM ended UNION ALL SELECT * FROM started`,
      [
        timeParam(now),
        id,
        options.inputDigest,
        jsonParam(error),
        giveUp,
        giveUp,
        timeParam(now),
        id,
        options.inputDigest,
        ...(notify ? this.#notifyBindings(now) : []),
      ],
    );
    // Neither: another node marked it started or expired meanwhile; it stays as it was left.
    if (rows[0]) return { start: queuedFromRow(rows[0]), changed: true };
    return { start: await this.getQueued(id), changed: false };
  }

  /**
   * The outbox rows for the starts the CTE named `ended` returns, in the same statement: the
   * expiry and its notification commit together or not at all. `withError`: the row's last error,
   * in its public form, is the notification's `error` (a give-up's last refusal, a cut-off's
   * reason); else null. The
   * event id is the start's id and the event, so a statement retried after a lost connection
   * cannot write a second one.
   */
  #notifyEnded(
    type: "start.expired" | "start.gave-up",
    withError = type === "start.gave-up",
    ended = "ended",
  ): string {
    const iso = (column: string) =>
      `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    return `, notified_${ended} AS (
        INSERT INTO ${this.#outbox} (id, instance_id, type, payload, target, status, next_attempt_at, created_at)
        SELECT ${ended}.id || '.${type}', ${ended}.id::text, '${type}',
          jsonb_build_object(
            'id', ${ended}.id || '.${type}',
            'type', '${type}',
            'occurredAt', ?::text,
            'start', jsonb_build_object(
              'id', ${ended}.id, 'channel', ${ended}.channel, 'behavior', ${ended}.behavior,
              'businessKey', ${ended}.business_key,
              'enqueuedAt', ${iso(`${ended}.enqueued_at`)}, 'expiresAt', ${iso(`${ended}.expires_at`)},
              'attempts', ${ended}.attempts),
            'error', ${withError ? publicErrorSql(`${ended}.last_error`) : "NULL::jsonb"}),
          ${ended}.upstream_client, 'pending', ?::timestamptz, ?::timestamptz
        FROM ${ended}
        WHERE ${ended}.status IN ('expired', 'failed')
        ON CONFLICT (id) DO NOTHING
      )`;
  }

  #notifyBindings(now: number): unknown[] {
    return [new Date(now).toISOString(), timeParam(now), timeParam(now)];
  }

  async admittedSince(channel: string, behavior: string, since: number): Promise<number> {
    const rows = await this.#query(
      `SELECT count(*)::int AS n FROM ${this.#queue}
      WHERE channel = ? AND behavior = ? AND status = 'started' AND finished_at > ?`,
      [channel, behavior, timeParam(since)],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async unsettledCount(channel: string, behavior: string): Promise<number> {
    const rows = await this.#query(
      `SELECT count(*)::int AS n FROM ${this.#instances}
      WHERE channel = ? AND behavior = ? AND status IN ${runnableStatuses}`,
      [channel, behavior],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async queueDepths(): Promise<QueueDepth[]> {
    const rows = await this.#query(
      `SELECT channel, behavior, count(*)::int AS depth, min(enqueued_at) AS oldest
      FROM ${this.#queue} WHERE status = 'queued' GROUP BY channel, behavior ORDER BY channel, behavior`,
      [],
    );
    return rows.map((row) => ({
      channel: row.channel as string,
      behavior: row.behavior as string,
      depth: Number(row.depth),
      oldestEnqueuedAt: row.oldest === null ? null : epochMs(row.oldest),
    }));
  }

  async getQueued(id: string): Promise<QueuedStart | undefined> {
    const rows = await this.#query(`SELECT * FROM ${this.#queue} WHERE id = ?::uuid`, [id]);
    return rows[0] ? queuedFromRow(rows[0]) : undefined;
  }

  async #query(sql: string, bindings: unknown[]): Promise<Row[]> {
    try {
      const result = await this.#db.knex.raw(sql, bindings as never);
      return (result as { rows: Row[] }).rows;
    } catch (error) {
      throw translateStoreError(error, { target: this.#db.target });
    }
  }
}

/** A jsonb column's value: PGlite may hand it over as text. */
function jsonValue(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

function queuedFromRow(row: Row): QueuedStart {
  const json = jsonValue;
  const input = json(row.input) as Record<string, unknown>;
  return {
    id: row.id as string,
    channel: row.channel as string,
    behavior: row.behavior as string,
    businessKey: row.business_key as string,
    input,
    // A start queued before migration 0044 (or by an older node) has none stored.
    inputDigest: (row.input_digest as string | null) ?? digestOf(input),
    upstreamClient: (row.upstream_client as string | null) ?? null,
    status: row.status as QueuedStartStatus,
    enqueuedAt: epochMs(row.enqueued_at),
    expiresAt: epochMs(row.expires_at),
    attempts: Number(row.attempts),
    instanceId: (row.instance_id as string | null) ?? null,
    lastError: (json(row.last_error) as QueuedStart["lastError"]) ?? null,
    finishedAt: row.finished_at === null ? null : epochMs(row.finished_at),
  };
}
