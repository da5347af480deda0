import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Flow-control refusals summarised instead of logged one by one: an instance holds its current run
 * of refusals (`refusals`, written by the reschedule that happens anyway), and the history gets one
 * entry per run with the counts (`step_logs.refusals`) when the instance next moves.
 *
 * Adding nullable columns without a default changes no existing row.
 */
export const refusalRunsMigration: Migration = {
  name: "0028_refusal_runs",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.instances} ADD COLUMN IF NOT EXISTS refusals jsonb`,
    `ALTER TABLE ${n.stepLogs} ADD COLUMN IF NOT EXISTS refusals jsonb`,
  ],
};
