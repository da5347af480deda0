import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Indexes for operators' reads at any number of instances (measured in `pnpm bench console` with
 * a million): listings in (created_at, id) order, the keyset of the operator API's paging, with or
 * without a channel and behavior or a status; a business key without its channel; and two small
 * partial indexes holding unsettled rows only (the overview's counts, the parked queue).
 *
 * Each index costs every instance update one more index entry (updates are not HOT: `updated_at`
 * is indexed since 0001); the partial ones only while the instance is unsettled. On a large
 * existing table, create them first by hand with CREATE INDEX CONCURRENTLY under the same names
 * (IF NOT EXISTS then skips them here), since a plain CREATE INDEX blocks writes while it builds.
 */
export const consoleMigration: Migration = {
  name: "0019_console",
  statements: (n: QualifiedNames) => [
    `CREATE INDEX IF NOT EXISTS instances_listing ON ${n.instances} (created_at, id COLLATE "C")`,
    `CREATE INDEX IF NOT EXISTS instances_listing_by_behavior
      ON ${n.instances} (channel, behavior, created_at, id COLLATE "C")`,
    `CREATE INDEX IF NOT EXISTS instances_listing_by_status
      ON ${n.instances} (status, created_at, id COLLATE "C")`,
    `CREATE INDEX IF NOT EXISTS instances_by_business_key ON ${n.instances} (business_key)`,
    `CREATE INDEX IF NOT EXISTS instances_unsettled_counts ON ${n.instances} (channel, behavior, status)
      WHERE status IN ('active', 'waiting')`,
    `CREATE INDEX IF NOT EXISTS instances_parked ON ${n.instances} (created_at, id COLLATE "C")
      INCLUDE (updated_at)
      WHERE status IN ('active', 'waiting') AND next_run_at IS NULL AND last_error IS NOT NULL`,
  ],
};
