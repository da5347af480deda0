import type {
  AlertFilter,
  AlertHistoryEntry,
  AlertNotification,
  AlertRecord,
  AlertSeverity,
  AlertStore,
  NewAlert,
} from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { epochMs, jsonParam, type Row, timeParam } from "./rows.ts";
import { quoteIdentifier } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/** Alerts and their history on PostgreSQL or PGlite (migrations 0011, 0042). */
export class KnexAlertStore implements AlertStore {
  readonly #db: DatabaseHandle;
  readonly #alerts: string;
  readonly #history: string;

  constructor(db: DatabaseHandle) {
    this.#db = db;
    this.#alerts = `${quoteIdentifier(db.schema)}."alerts"`;
    this.#history = `${quoteIdentifier(db.schema)}."alert_history"`;
  }

  async openAlert(alert: NewAlert): Promise<{ alert: AlertRecord; opened: boolean }> {
    // Insert, and the history row, in one statement; a firing alert of the same rule and subject
    // makes the insert do nothing, and the open one is read instead.
    const inserted = await this.#query(
      `WITH inserted AS (
        INSERT INTO ${this.#alerts} (id, rule, subject, severity, status, summary, details, fired_at)
        VALUES (?::uuid, ?, ?, ?, 'firing', ?, ?::jsonb, ?)
        ON CONFLICT (rule, subject) WHERE status = 'firing' DO NOTHING
        RETURNING *
      ), history AS (
        INSERT INTO ${this.#history} (alert_id, at, event, detail)
        SELECT id, fired_at, 'fired', summary FROM inserted
      )
      SELECT * FROM inserted`,
      [
        alert.id,
        alert.rule,
        alert.subject,
        alert.severity,
        alert.summary,
        jsonParam(alert.details),
        timeParam(alert.firedAt),
      ],
    );
    if (inserted[0]) return { alert: alertFromRow(inserted[0]), opened: true };
    const open = await this.#query(
      `SELECT * FROM ${this.#alerts} WHERE rule = ? AND subject = ? AND status = 'firing'`,
      [alert.rule, alert.subject],
    );
    if (open[0]) return { alert: alertFromRow(open[0]), opened: false };
    // Resolved between the two statements: try once more.
    return this.openAlert(alert);
  }

  async raiseAlert(alert: NewAlert): Promise<{ alert: AlertRecord; opened: boolean }> {
    // Opens the alert with its history row, or records the raise on the one open, in one
    // statement: the insert that meets the open alert's unique index updates its last raise.
    const rows = await this.#query(
      `WITH raised AS (
        INSERT INTO ${this.#alerts} AS a (id, rule, subject, severity, status, summary, details, fired_at, last_raised_at)
        VALUES (?::uuid, ?, ?, ?, 'firing', ?, ?::jsonb, ?, ?)
        ON CONFLICT (rule, subject) WHERE status = 'firing'
        DO UPDATE SET last_raised_at = GREATEST(a.last_raised_at, EXCLUDED.last_raised_at)
        RETURNING a.*, a.id = ?::uuid AS opened
      ), history AS (
        INSERT INTO ${this.#history} (alert_id, at, event, detail)
        SELECT id, fired_at, 'fired', summary FROM raised WHERE opened
      )
      SELECT * FROM raised`,
      [
        alert.id,
        alert.rule,
        alert.subject,
        alert.severity,
        alert.summary,
        jsonParam(alert.details),
        timeParam(alert.firedAt),
        timeParam(alert.firedAt),
        alert.id,
      ],
    );
    const row = rows[0]!;
    return { alert: alertFromRow(row), opened: row.opened === true };
  }

  async resolveAlert(
    rule: string,
    subject: string,
    at: number,
    options: { raisedBefore?: number } = {},
  ): Promise<AlertRecord | undefined> {
    const raisedBefore = options.raisedBefore;
    const rows = await this.#query(
      `WITH resolved AS (
        UPDATE ${this.#alerts} SET status = 'resolved', resolved_at = ?
        WHERE rule = ? AND subject = ? AND status = 'firing'
          AND (?::timestamptz IS NULL OR COALESCE(last_raised_at, fired_at) <= ?::timestamptz)
        RETURNING *
      ), history AS (
        INSERT INTO ${this.#history} (alert_id, at, event) SELECT id, resolved_at, 'resolved' FROM resolved
      )
      SELECT * FROM resolved`,
      [
        timeParam(at),
        rule,
        subject,
        raisedBefore === undefined ? null : timeParam(raisedBefore),
        raisedBefore === undefined ? null : timeParam(raisedBefore),
      ],
    );
    return rows[0] ? alertFromRow(rows[0]) : undefined;
  }

  async listAlerts(filter: AlertFilter = {}): Promise<AlertRecord[]> {
    const bindings: unknown[] = [];
    let sql = `SELECT * FROM ${this.#alerts}`;
    if (filter.status) {
      sql += " WHERE status = ?";
      bindings.push(filter.status);
    }
    sql += " ORDER BY fired_at DESC, id LIMIT ?";
    bindings.push(filter.limit ?? 100);
    return (await this.#query(sql, bindings)).map(alertFromRow);
  }

  async recordNotification(notification: AlertNotification): Promise<void> {
    await this.#query(
      `WITH history AS (
        INSERT INTO ${this.#history} (alert_id, at, event, sink, detail) VALUES (?::uuid, ?, ?, ?, ?)
      )
      UPDATE ${this.#alerts} SET last_notified_at = ? WHERE id = ?::uuid AND ? AND ?`,
      [
        notification.alertId,
        timeParam(notification.at),
        notification.outcome,
        notification.sink,
        notification.detail ?? (notification.state === "resolved" ? "resolved" : null),
        timeParam(notification.at),
        notification.alertId,
        notification.outcome === "sent",
        notification.state === "firing",
      ],
    );
  }

  async alertHistory(alertId: string): Promise<AlertHistoryEntry[]> {
    const rows = await this.#query(
      `SELECT * FROM ${this.#history} WHERE alert_id = ?::uuid ORDER BY id`,
      [alertId],
    );
    return rows.map((row) => ({
      alertId: row.alert_id as string,
      at: epochMs(row.at),
      event: row.event as AlertHistoryEntry["event"],
      sink: (row.sink as string | null) ?? null,
      detail: (row.detail as string | null) ?? null,
    }));
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

function alertFromRow(row: Row): AlertRecord {
  const details = typeof row.details === "string" ? JSON.parse(row.details) : row.details;
  return {
    id: row.id as string,
    rule: row.rule as string,
    subject: row.subject as string,
    severity: row.severity as AlertSeverity,
    status: row.status as "firing" | "resolved",
    summary: row.summary as string,
    details: details as Record<string, unknown>,
    firedAt: epochMs(row.fired_at),
    resolvedAt: row.resolved_at === null ? null : epochMs(row.resolved_at),
    lastNotifiedAt: row.last_notified_at === null ? null : epochMs(row.last_notified_at),
    ...(row.last_raised_at == null ? {} : { lastRaisedAt: epochMs(row.last_raised_at) }),
  };
}
