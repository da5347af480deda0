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
    const [unsettled, recent, manual, parkedRow, stuck, inbox, latency, outbox] = await Promise.all(
      [
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
        // An index-only range scan of the hour's partner calls (migration 0023).
        this.#rows(
          `SELECT channel, interface, count(*) AS calls,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99
         FROM ${this.#t.stepLogs} WHERE interface IS NOT NULL AND started_at >= ?
         GROUP BY channel, interface ORDER BY channel, interface`,
          [hourAgo],
        ),
        // Undelivered rows only, from their partial index (migration 0008).
        this.#rows(
          `SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS retrying,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           min(created_at) FILTER (WHERE status = 'pending') AS oldest
         FROM ${this.#t.outbox} WHERE status <> 'delivered'`,
          [],
        ),
      ],
    );
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
      partnerLatency: latency.map((row) => ({
        channel: row.channel as string,
        interface: row.interface as string,
        calls: Number(row.calls),
        p50Ms: Math.round(Number(row.p50)),
        p99Ms: Math.round(Number(row.p99)),
      })),
      outbox: {
        pending: Number(outbox[0]?.pending ?? 0),
        retrying: Number(outbox[0]?.retrying ?? 0),
        failed: Number(outbox[0]?.failed ?? 0),
        oldestPendingAt: outbox[0]?.oldest == null ? null : epochMs(outbox[0].oldest),
      },
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
