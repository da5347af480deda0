import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The stuck-order monitor's last finished round, shared by the nodes: one row, read and written
 * under the monitor's advisory lock, so a node that takes the lock less than a round's interval
 * after another node finished skips its round (one scan per interval across the cluster).
 *
 * - `finished_at`: when the round ended, on the clock of the node that ran it.
 * - `node`: which monitor ran it; a monitor never skips after its own round.
 */
export const stuckLastScanMigration: Migration = {
  name: "0032_stuck_last_scan",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.schema}."stuck_last_scan" (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      finished_at timestamptz NOT NULL,
      node text NOT NULL
    )`,
  ],
};
