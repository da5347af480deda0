import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * A reconciliation run is one file read with one statement definition: `definition_digest` (the
 * definition's SHA-256) joins the file's in the unique identity, so a corrected definition (a
 * unit, a column) reconciles the same file anew. `attempt` numbers runs made again on purpose
 * (`capflow reconcile run --again`, after fixing our instances); a plain run finds the latest.
 * Runs made before this migration have an empty digest: the same file is reconciled once more.
 */
export const reconcileRunIdentityMigration: Migration = {
  name: "0038_reconcile_run_identity",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.reconcileRuns} ADD COLUMN definition_digest text NOT NULL DEFAULT ''`,
    `ALTER TABLE ${n.reconcileRuns} ADD COLUMN attempt integer NOT NULL DEFAULT 0`,
    `ALTER TABLE ${n.reconcileRuns} DROP CONSTRAINT reconcile_runs_file`,
    `ALTER TABLE ${n.reconcileRuns} ADD CONSTRAINT reconcile_runs_file
      UNIQUE (channel, statement, business_date, file_digest, definition_digest, attempt)`,
  ],
};
