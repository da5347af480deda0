import type { CachedAnswer, QueryCacheStore } from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { epochMs, jsonParam, type Row, timeParam } from "./rows.ts";
import { quoteIdentifier } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * Cached query answers on PostgreSQL or PGlite, shared by every node (migration 0021; the run of
 * each answer, migration 0031).
 */
export class KnexQueryCacheStore implements QueryCacheStore {
  readonly #db: DatabaseHandle;
  readonly #table: string;

  constructor(db: DatabaseHandle) {
    this.#db = db;
    this.#table = `${quoteIdentifier(db.schema)}."query_cache"`;
  }

  async getCached(key: string, now: number): Promise<CachedAnswer | undefined> {
    const rows = await this.#query(
      `SELECT * FROM ${this.#table} WHERE key = ? AND expires_at > ?`,
      [key, timeParam(now)],
    );
    return rows[0] ? answerFromRow(rows[0]) : undefined;
  }

  async putCached(answer: CachedAnswer): Promise<CachedAnswer> {
    const rows = await this.#query(
      `INSERT INTO ${this.#table} AS q (key, channel, behavior, instance_id, run, value, stored_at, expires_at)
      VALUES (?, ?, ?, ?, ?, ?::jsonb, ?, ?)
      ON CONFLICT (key) DO UPDATE SET instance_id = excluded.instance_id, run = excluded.run,
        value = excluded.value, stored_at = excluded.stored_at, expires_at = excluded.expires_at
      WHERE q.expires_at <= excluded.stored_at
        OR (q.run < excluded.run AND q.value->>'status' <> 'succeeded')
      RETURNING *`,
      [
        answer.key,
        answer.channel,
        answer.behavior,
        answer.instanceId,
        answer.run,
        jsonParam(answer.value),
        timeParam(answer.storedAt),
        timeParam(answer.expiresAt),
      ],
    );
    if (rows[0]) return answerFromRow(rows[0]);
    const existing = await this.#query(`SELECT * FROM ${this.#table} WHERE key = ?`, [answer.key]);
    return existing[0] ? answerFromRow(existing[0]) : answer;
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

function answerFromRow(row: Row): CachedAnswer {
  const value = typeof row.value === "string" ? JSON.parse(row.value) : row.value;
  return {
    key: row.key as string,
    channel: row.channel as string,
    behavior: row.behavior as string,
    instanceId: row.instance_id as string,
    run: Number(row.run),
    value: value as CachedAnswer["value"],
    storedAt: epochMs(row.stored_at),
    expiresAt: epochMs(row.expires_at),
  };
}
