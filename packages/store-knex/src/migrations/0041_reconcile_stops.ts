import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * `reconcile_stops`: a statement the schedule stopped because trying again cannot help (an SFTP
 * server showing another host key than the pinned one, a definition that does not hold), kept
 * until an operator clears it, so a restarted node neither tries it again nor alerts again. One
 * open stop per statement and definition digest; a corrected definition is tried anew.
 */
export const reconcileStopsMigration: Migration = {
  name: "0041_reconcile_stops",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.schema}."reconcile_stops" (
      id bigserial PRIMARY KEY,
      channel text NOT NULL,
      statement text NOT NULL,
      definition_digest text NOT NULL,
      business_date date NOT NULL,
      error jsonb NOT NULL,
      stopped_at timestamptz NOT NULL,
      cleared_at timestamptz,
      cleared_by text,
      clear_reason text
    )`,
    `CREATE UNIQUE INDEX reconcile_stops_open ON ${n.schema}."reconcile_stops"
      (channel, statement, definition_digest) WHERE cleared_at IS NULL`,
  ],
};
