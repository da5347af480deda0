import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * A reconciliation run's generation: a fencing token. A run left running past its stale time is
 * taken over under the same id, and the first process may still be alive, adding lines or
 * failing the run, which would clear the new generation's lines and differences. Each takeover
 * adds one to `generation`, and every write of a run checks it holds the current one (locking
 * the run's row for the write), so a stale writer stops instead. (`attempt`, migration 0038,
 * numbers runs made again on purpose; a generation is one process's hold on one run.)
 */
export const reconcileRunGenerationMigration: Migration = {
  name: "0037_reconcile_run_generation",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.reconcileRuns} ADD COLUMN generation integer NOT NULL DEFAULT 1`,
  ],
};
