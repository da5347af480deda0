import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Partner latency for the operations console, from step logs: an entry whose call reached the
 * partner (answered, or no answer in time) records the channel and interface it called, and a
 * partial index holds only those entries by start time, with what the percentiles read. The
 * overview's "last hour" is then an index-only range scan of that hour's calls, however long the
 * history; other entries (waits, operator actions, refused calls) add nothing to the index.
 *
 * Adding nullable columns without a default changes no existing row. On a large existing table,
 * create the index first by hand with CREATE INDEX CONCURRENTLY under the same name.
 */
export const partnerLatencyMigration: Migration = {
  name: "0023_partner_latency",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.stepLogs} ADD COLUMN IF NOT EXISTS channel text,
      ADD COLUMN IF NOT EXISTS interface text`,
    `CREATE INDEX IF NOT EXISTS step_logs_partner_calls
      ON ${n.stepLogs} (started_at) INCLUDE (channel, interface, duration_ms)
      WHERE interface IS NOT NULL`,
  ],
};
