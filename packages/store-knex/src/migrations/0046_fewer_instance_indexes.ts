import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Two fewer index entries for every instance that settles as succeeded, one fewer for every other
 * commit. A commit's update changes `updated_at` (and most often `status` or `next_run_at`), so it
 * is never HOT: the new row version gets an entry in every index whose condition it meets, and
 * those entries were about half of PostgreSQL's work in a step.
 * - `instances_identity (business_key, channel, behavior)`, unique, replaces both the
 *   `instances_business_key` constraint `(channel, business_key, behavior)` and
 *   `instances_by_business_key (business_key)`: uniqueness is the same, `ON CONFLICT (channel,
 *   business_key, behavior)` finds it by its columns, and with the business key first it serves
 *   the lookups by business key alone (the console's search, the business-key guard) as well as
 *   those by channel and business key (`wake()`, the inbox sweep).
 * - `instances_listing_by_status` keeps the instances not `succeeded` only. Succeeded instances
 *   are most rows of a table in use: a listing of them reads `instances_listing` (or
 *   `instances_listing_by_behavior`) in creation order and skips the few others, while a listing
 *   of failed, manual or unsettled instances, a needle in that haystack, still has its index.
 *
 * Building a unique index blocks writes to `instances` while it reads the table. On a large table,
 * create both first by hand, `CREATE UNIQUE INDEX CONCURRENTLY instances_identity ON instances
 * (business_key, channel, behavior)` and `CREATE INDEX CONCURRENTLY instances_listing_not_succeeded
 * ON instances (status, created_at, id COLLATE "C") WHERE status <> 'succeeded'`, and check they
 * are valid: this migration then only drops the old ones.
 */
export const fewerInstanceIndexesMigration: Migration = {
  name: "0046_fewer_instance_indexes",
  statements: (n: QualifiedNames) => [
    `CREATE UNIQUE INDEX IF NOT EXISTS instances_identity
      ON ${n.instances} (business_key, channel, behavior)`,
    `CREATE INDEX IF NOT EXISTS instances_listing_not_succeeded
      ON ${n.instances} (status, created_at, id COLLATE "C") WHERE status <> 'succeeded'`,
    // An index left INVALID by a CONCURRENTLY build that failed enforces nothing (uniqueness is
    // the identity of an instance) and is never read; one built by hand under these names but
    // not as written above (not unique, other columns or condition) would be kept by IF NOT
    // EXISTS. Refuse either before the old identity goes, saying how to put it right.
    `DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_index WHERE NOT indisvalid AND indexrelid IN (
          to_regclass('${n.schema}.instances_identity'),
          to_regclass('${n.schema}.instances_listing_not_succeeded'))) THEN
        RAISE EXCEPTION 'the index instances_identity or instances_listing_not_succeeded is INVALID (a CREATE INDEX CONCURRENTLY that failed): drop it, build it again, then run capflow migrate';
      END IF;
      IF pg_get_indexdef(to_regclass('${n.schema}.instances_identity'))
          NOT LIKE 'CREATE UNIQUE INDEX instances_identity ON % USING btree (business_key, channel, behavior)'
        OR pg_get_indexdef(to_regclass('${n.schema}.instances_listing_not_succeeded'))
          NOT LIKE 'CREATE INDEX instances_listing_not_succeeded ON % USING btree (status, created_at, id COLLATE "C") WHERE (status <> ''succeeded''::text)' THEN
        RAISE EXCEPTION 'the index instances_identity or instances_listing_not_succeeded is not the one this migration builds (see docs/operations.md, migration 0046): drop it, then run capflow migrate, or build it again exactly as documented';
      END IF;
    END $$`,
    `ALTER TABLE ${n.instances} DROP CONSTRAINT IF EXISTS instances_business_key`,
    `DROP INDEX IF EXISTS ${n.schema}.instances_by_business_key`,
    `DROP INDEX IF EXISTS ${n.schema}.instances_listing_by_status`,
  ],
};
