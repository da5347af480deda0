import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Alerts and their history.
 *
 * - `alerts`: one row per alert; the partial unique index on (rule, subject) of firing alerts is
 *   the deduplication: whichever node raises an alert first opens it, the others find it open.
 * - `alert_history`: what happened to each alert (fired, each notification sent, failed or
 *   suppressed by a sink's rate limit, resolved), kept for operators.
 */
export const alertsMigration: Migration = {
  name: "0011_alerts",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.schema}."alerts" (
      id uuid PRIMARY KEY,
      rule text NOT NULL,
      subject text NOT NULL,
      severity text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
      status text NOT NULL CHECK (status IN ('firing', 'resolved')),
      summary text NOT NULL,
      details jsonb NOT NULL,
      fired_at timestamptz NOT NULL,
      resolved_at timestamptz,
      last_notified_at timestamptz
    )`,
    `CREATE UNIQUE INDEX alerts_firing_once ON ${n.schema}."alerts" (rule, subject)
      WHERE status = 'firing'`,
    `CREATE INDEX alerts_fired_at ON ${n.schema}."alerts" (fired_at DESC)`,
    `CREATE TABLE ${n.schema}."alert_history" (
      id bigserial PRIMARY KEY,
      alert_id uuid NOT NULL,
      at timestamptz NOT NULL,
      event text NOT NULL CHECK (event IN ('fired', 'resolved', 'sent', 'failed', 'suppressed')),
      sink text,
      detail text
    )`,
    `CREATE INDEX alert_history_alert ON ${n.schema}."alert_history" (alert_id, id)`,
  ],
};
