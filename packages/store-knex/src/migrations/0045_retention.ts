import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * What `pruneOperationalData` needs to delete old operational rows in small batches, oldest first,
 * without reading the rows it keeps:
 * - `outbox.failed_at`: when a notification ran out of retries (cleared by a re-send). Rows that
 *   failed before this migration get the migration's time, so they are kept a full age from now;
 *   a row failed by an older node during a rolling deploy has none and counts from its creation or
 *   last re-send. Delivered rows are found through `outbox_listing` (created_at) and failed ones
 *   through `outbox_undelivered` (status, created_at): a row is delivered or fails after it is made.
 * - `inbox_processed`: processed entries by processing time. The inbox's other indexes hold only
 *   unprocessed entries. Entries keeping the notification as received (`raw`) are never pruned, so
 *   they stay out of it.
 * - `queued_starts_closed`: closed queued starts (started, expired, given up) by closing time.
 *
 * Building an index blocks inserts into its table for as long as it reads the table (for the
 * inbox: callbacks wait, and a partner whose request times out sends again). On a large inbox or
 * queue, create them first by hand with `CREATE INDEX CONCURRENTLY` under the same names, columns
 * and conditions, and check they are valid (`\d inbox` must not say INVALID; drop and rebuild one
 * that does): this migration then only adds the column.
 */
export const retentionMigration: Migration = {
  name: "0045_retention",
  statements: (n: QualifiedNames) => [
    `CREATE INDEX IF NOT EXISTS inbox_processed ON ${n.inbox} (processed_at)
      WHERE processed_at IS NOT NULL AND raw IS NULL`,
    `CREATE INDEX IF NOT EXISTS queued_starts_closed ON ${n.schema}."queued_starts" (finished_at)
      WHERE status <> 'queued'`,
    // An index left INVALID by a CONCURRENTLY build that failed is never used: every prune would
    // then read the whole table. Refuse, saying how to put it right.
    `DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_index WHERE NOT indisvalid AND indexrelid IN (
          to_regclass('${n.schema}.inbox_processed'), to_regclass('${n.schema}.queued_starts_closed'))) THEN
        RAISE EXCEPTION 'the index inbox_processed or queued_starts_closed is INVALID (a CREATE INDEX CONCURRENTLY that failed): drop it, build it again, then run capflow migrate';
      END IF;
    END $$`,
    // Last: the column takes the outbox's strongest lock until the migration commits, so it is
    // held for the column and the update of the failed rows only, not while the indexes above
    // read the inbox and the queue (every commit that writes a notification would wait on it).
    `ALTER TABLE ${n.outbox} ADD COLUMN IF NOT EXISTS failed_at timestamptz`,
    `UPDATE ${n.outbox} SET failed_at = now() WHERE status = 'failed' AND failed_at IS NULL`,
  ],
};
