import type { AlertCount, AlertCountStore, AlertSignal } from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { epochMs, jsonParam, type Row, timeParam } from "./rows.ts";
import { quoteIdentifier } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * Alert counts shared by every node (migration 0024): each node adds its own with one upsert per
 * flush, so the node that evaluates the rules sees the cluster's calls, refusals and callbacks.
 */
export class KnexAlertCountStore implements AlertCountStore {
  readonly #db: DatabaseHandle;
  readonly #table: string;

  constructor(db: DatabaseHandle) {
    this.#db = db;
    this.#table = `${quoteIdentifier(db.schema)}."alert_counts"`;
  }

  async addCounts(counts: AlertCount[]): Promise<void> {
    if (counts.length === 0) return;
    // One statement for the whole batch, rows in key order so concurrent flushes never deadlock.
    const rows = [...counts]
      .sort(
        (a, b) =>
          a.signal.localeCompare(b.signal) ||
          a.channel.localeCompare(b.channel) ||
          a.subject.localeCompare(b.subject) ||
          a.bucket - b.bucket,
      )
      .map((c) => ({
        signal: c.signal,
        channel: c.channel,
        subject: c.subject,
        bucket: new Date(c.bucket).toISOString(),
        total: c.total,
        hits: c.hits,
      }));
    await this.#query(
      `INSERT INTO ${this.#table} AS t (signal, channel, subject, bucket, total, hits)
      SELECT signal, channel, subject, bucket, sum(total), sum(hits)
      FROM json_to_recordset(?::json)
        AS r(signal text, channel text, subject text, bucket timestamptz, total bigint, hits bigint)
      GROUP BY signal, channel, subject, bucket
      ORDER BY signal, channel, subject, bucket
      ON CONFLICT (signal, channel, subject, bucket)
      DO UPDATE SET total = t.total + excluded.total, hits = t.hits + excluded.hits`,
      [jsonParam(rows)],
    );
  }

  async countsSince(since: number): Promise<AlertCount[]> {
    const rows = await this.#query(
      `SELECT signal, channel, subject, bucket, total, hits FROM ${this.#table} WHERE bucket >= ?`,
      [timeParam(since)],
    );
    return rows.map((row) => ({
      signal: row.signal as AlertSignal,
      channel: row.channel as string,
      subject: row.subject as string,
      bucket: epochMs(row.bucket),
      total: Number(row.total),
      hits: Number(row.hits),
    }));
  }

  async purgeCounts(before: number): Promise<void> {
    await this.#query(`DELETE FROM ${this.#table} WHERE bucket < ?`, [timeParam(before)]);
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
