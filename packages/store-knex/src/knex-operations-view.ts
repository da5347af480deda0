import type {
  AttentionCount,
  InstanceRecord,
  InstanceStatus,
  OperationsOverview,
  OperationsView,
  OverviewRequest,
  ParkedListRequest,
  StatusCount,
} from "@capflow/core";
import type { Knex } from "knex";
import { epochMs, instanceFromRow, type Row, timeParam } from "./rows.ts";
import { defaultSchema, type QualifiedNames, qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export interface KnexOperationsViewOptions {
  /** Schema holding capflow's tables. Default `capflow`. */
  schema?: string;
  /** How messages name the database (never with a password). */
  target?: string;
}

const settled = "('succeeded', 'failed', 'manual', 'cancelled')";
const parked = "status IN ('active', 'waiting') AND next_run_at IS NULL AND last_error IS NOT NULL";

/**
 * `OperationsView` on PostgreSQL or PGlite: each figure is one indexed query (migration 0019), run
 * side by side, so the overview costs the same at a thousand instances or a million.
 */
export class KnexOperationsView implements OperationsView {
  readonly #knex: Knex;
  readonly #t: QualifiedNames;
  readonly #target: string;

  constructor(knex: Knex, options: KnexOperationsViewOptions = {}) {
    this.#knex = knex;
    this.#t = qualifiedNames(options.schema ?? defaultSchema);
    this.#target = options.target ?? "the database";
  }

  async overview(request: OverviewRequest): Promise<OperationsOverview> {
    const instances = this.#t.instances;
    const recentSince = timeParam(request.now - request.recentMs);
    const hourAgo = timeParam(request.now - 3_600_000);
    const [unsettled, recent, manual, parkedRow, stuck, inbox] = await Promise.all([
      this.#rows(
        `SELECT channel, behavior, status, count(*) AS count FROM ${instances}
         WHERE status IN ('active', 'waiting') GROUP BY channel, behavior, status`,
        [],
      ),
      this.#rows(
        `SELECT channel, behavior, status, count(*) AS count,
                count(*) FILTER (WHERE updated_at >= ?) AS last_hour
         FROM ${instances} WHERE status IN ${settled} AND updated_at >= ?
         GROUP BY channel, behavior, status`,
        [hourAgo, recentSince],
      ),
      this.#rows(
        `SELECT count(*) AS count, min(updated_at) AS oldest FROM ${instances} WHERE status = 'manual'`,
        [],
      ),
      this.#rows(
        `SELECT count(*) AS count, min(updated_at) AS oldest FROM ${instances} WHERE ${parked}`,
        [],
      ),
      this.#rows(
        `SELECT count(*) AS count, min(updated_at) AS oldest FROM ${instances}
         WHERE status IN ('active', 'waiting') AND updated_at < ?`,
        [timeParam(request.now - request.stuckAfterMs)],
      ),
      this.#rows(`SELECT count(*) AS count FROM ${this.#t.inbox} WHERE processed_at IS NULL`, []),
    ]);
    const counts = (rows: Row[], column = "count"): StatusCount[] =>
      rows
        .map((row) => ({
          channel: row.channel as string,
          behavior: row.behavior as string,
          status: row.status as InstanceStatus,
          count: Number(row[column]),
        }))
        .filter((row) => row.count > 0);
    const attention = (kind: AttentionCount["kind"], row: Row | undefined): AttentionCount => ({
      kind,
      count: Number(row?.count ?? 0),
      oldestUpdatedAt: row?.oldest == null ? null : epochMs(row.oldest),
    });
    return {
      byStatus: [...counts(unsettled), ...counts(recent)],
      settledLastHour: counts(recent, "last_hour"),
      attention: [
        attention("manual", manual[0]),
        attention("parked", parkedRow[0]),
        attention("stuck", stuck[0]),
      ],
      inboxPending: Number(inbox[0]?.count ?? 0),
    };
  }

  async listParked(request: ParkedListRequest): Promise<InstanceRecord[]> {
    const where = [parked];
    const bindings: unknown[] = [];
    if (request.channel !== undefined) {
      where.push("channel = ?");
      bindings.push(request.channel);
    }
    if (request.behavior !== undefined) {
      where.push("behavior = ?");
      bindings.push(request.behavior);
    }
    if (request.after !== undefined) {
      where.push(`(created_at, id COLLATE "C") > (?::timestamptz, ?::text)`);
      bindings.push(timeParam(request.after.createdAt), request.after.id);
    }
    bindings.push(request.limit);
    const rows = await this.#rows(
      `SELECT * FROM ${this.#t.instances} WHERE ${where.join(" AND ")}
       ORDER BY created_at, id COLLATE "C" LIMIT ?`,
      bindings,
    );
    return rows.map(instanceFromRow);
  }

  async #rows(sql: string, bindings: readonly unknown[]): Promise<Row[]> {
    try {
      const result = (await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] };
      return result.rows;
    } catch (cause) {
      throw translateStoreError(cause, { target: this.#target });
    }
  }
}
