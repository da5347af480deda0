import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * `alerts.last_raised_at`: when any node last raised an open alert of a `raised` rule. The node
 * that evaluates the rules resolves such an alert `clearAfter` after its last raise, whichever
 * node raised it; alerts opened before have none and count from their firing. Adding a nullable
 * column does not rewrite the table.
 */
export const alertLastRaisedMigration: Migration = {
  name: "0042_alert_last_raised",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.schema}."alerts" ADD COLUMN last_raised_at timestamptz`,
  ],
};
