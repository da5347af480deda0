import { randomUUID } from "node:crypto";
import type {
  InstanceStatus,
  NewStuckBreach,
  StuckBreach,
  StuckCount,
  StuckFilter,
  StuckScan,
  StuckScope,
  StuckStore,
  UnsettledInstance,
  UnsettledRequest,
} from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { epochMs, type Row, timeParam } from "./rows.ts";
import { qualifiedNames, quoteIdentifier, runnableStatuses } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * The stuck-order monitor's store on PostgreSQL or PGlite: unsettled instances with the time they
 * entered their step, and `sla_breaches`, each recorded once (migration 0010); the last finished
 * round in `stuck_last_scan` (migration 0032).
 *
 * ```ts
 * const stuck = new KnexStuckStore(db);
 * const monitor = new StuckMonitor({ store: stuck, definitions: db.definitions, clock, exclusive: knexExclusiveRunner(db) });
 * ```
 */
export class KnexStuckStore implements StuckStore {
  readonly #db: DatabaseHandle;
  readonly #instances: string;
  readonly #breaches: string;
  readonly #lastScan: string;

  constructor(db: DatabaseHandle) {
    this.#db = db;
    this.#instances = qualifiedNames(db.schema).instances;
    this.#breaches = `${quoteIdentifier(db.schema)}.${quoteIdentifier("sla_breaches")}`;
    this.#lastScan = `${quoteIdentifier(db.schema)}.${quoteIdentifier("stuck_last_scan")}`;
  }

  async unsettledInstances(request: UnsettledRequest): Promise<UnsettledInstance[]> {
    const bindings: unknown[] = [timeParam(request.createdBefore)];
    let sql = `SELECT id, channel, behavior, behavior_version, business_key, step, status, created_at,
        coalesce(step_entered_at, created_at) AS step_entered_at
      FROM ${this.#instances}
      WHERE status IN ${runnableStatuses} AND created_at <= ?`;
    if (request.after) {
      sql += ` AND (created_at, id COLLATE "C") > (?::timestamptz, ?::text)`;
      bindings.push(timeParam(request.after.createdAt), request.after.id);
    }
    sql += ` ORDER BY created_at, id COLLATE "C" LIMIT ?`;
    bindings.push(request.limit);
    const rows = await this.#query(sql, bindings);
    return rows.map((row) => ({
      id: row.id as string,
      channel: row.channel as string,
      behavior: row.behavior as string,
      behaviorVersion: Number(row.behavior_version),
      businessKey: row.business_key as string,
      step: row.step as string,
      status: row.status as InstanceStatus,
      createdAt: epochMs(row.created_at),
      stepEnteredAt: epochMs(row.step_entered_at),
    }));
  }

  async recordBreaches(breaches: readonly NewStuckBreach[]): Promise<StuckBreach[]> {
    if (breaches.length === 0) return [];
    const values = breaches.map(
      () => "(?::uuid, ?, ?, ?, ?, ?, ?, ?, ?::timestamptz, ?::timestamptz)",
    );
    const bindings = breaches.flatMap((b) => [
      randomUUID(),
      b.instanceId,
      b.channel,
      b.behavior,
      b.businessKey,
      b.step,
      b.scope,
      b.slaMs,
      timeParam(b.since),
      timeParam(b.detectedAt),
    ]);
    const rows = await this.#query(
      `INSERT INTO ${this.#breaches}
        (id, instance_id, channel, behavior, business_key, step, scope, sla_ms, since, detected_at)
      VALUES ${values.join(", ")}
      ON CONFLICT ON CONSTRAINT sla_breaches_once DO NOTHING
      RETURNING *`,
      bindings,
    );
    return rows.map(breachFromRow);
  }

  async resolveCleared(now: number): Promise<number> {
    const rows = await this.#query(
      `UPDATE ${this.#breaches} b SET resolved_at = ?
      FROM ${this.#instances} i
      WHERE b.resolved_at IS NULL AND i.id = b.instance_id
        AND (i.status NOT IN ${runnableStatuses}
          OR (b.scope = 'step' AND coalesce(i.step_entered_at, i.created_at) <> b.since))
      RETURNING b.id`,
      [timeParam(now)],
    );
    return rows.length;
  }

  async listStuck(filter: StuckFilter = {}): Promise<StuckBreach[]> {
    const where = ["resolved_at IS NULL"];
    const bindings: unknown[] = [];
    if (filter.channel !== undefined) {
      where.push("channel = ?");
      bindings.push(filter.channel);
    }
    if (filter.behavior !== undefined) {
      where.push("behavior = ?");
      bindings.push(filter.behavior);
    }
    bindings.push(filter.limit ?? 100);
    const rows = await this.#query(
      `SELECT * FROM ${this.#breaches} WHERE ${where.join(" AND ")}
      ORDER BY since, id LIMIT ?`,
      bindings,
    );
    return rows.map(breachFromRow);
  }

  /**
   * Each stuck instance once, at the step it is at now: a behavior breach found at one step counts
   * at the next once the instance moves on (the breach row keeps where it was found).
   */
  async stuckCounts(): Promise<StuckCount[]> {
    const rows = await this.#query(
      `SELECT b.channel, b.behavior, coalesce(i.step, b.step) AS step,
        count(DISTINCT b.instance_id)::int AS count
      FROM ${this.#breaches} b LEFT JOIN ${this.#instances} i ON i.id = b.instance_id
      WHERE b.resolved_at IS NULL
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      [],
    );
    return rows.map((row) => ({
      channel: row.channel as string,
      behavior: row.behavior as string,
      step: row.step as string,
      count: Number(row.count),
    }));
  }

  async lastScan(): Promise<StuckScan | undefined> {
    const [row] = await this.#query(`SELECT finished_at, node FROM ${this.#lastScan}`, []);
    return row ? { finishedAt: epochMs(row.finished_at), node: row.node as string } : undefined;
  }

  async recordScan(scan: StuckScan): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#lastScan} (id, finished_at, node) VALUES (true, ?::timestamptz, ?)
      ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, node = excluded.node`,
      [timeParam(scan.finishedAt), scan.node],
    );
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

function breachFromRow(row: Row): StuckBreach {
  return {
    id: row.id as string,
    instanceId: row.instance_id as string,
    channel: row.channel as string,
    behavior: row.behavior as string,
    businessKey: row.business_key as string,
    step: row.step as string,
    scope: row.scope as StuckScope,
    slaMs: Number(row.sla_ms),
    since: epochMs(row.since),
    detectedAt: epochMs(row.detected_at),
    resolvedAt: row.resolved_at === null ? null : epochMs(row.resolved_at),
  };
}
