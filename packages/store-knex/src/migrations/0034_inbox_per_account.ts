import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Notifications are deduplicated per channel account: (channel, callback, account, dedupe_key).
 * Each account of a channel is its own merchant at the funder and numbers its notifications on
 * its own; with the key per callback, account B's notification 1001 was acknowledged and dropped
 * as a duplicate of account A's, and B's instance waited until its deadline. An entry is applied
 * only to its own account's instances (`pendingInbox`), so dedupe follows the same identity.
 *
 * A channel without accounts stores NULL, and NULLs never collide in a plain unique index, so the
 * index keys on `COALESCE(account, '')`: an account code starts with a letter, never ''
 * (`NULLS NOT DISTINCT` needs PostgreSQL 15 or later). Existing rows are unique by the narrower
 * key, so the index builds on them as they are.
 *
 * Building the index blocks inserts into the inbox (callbacks wait; a partner whose request times
 * out resends) for as long as it reads the table. On a large inbox, create it first by hand with
 * `CREATE UNIQUE INDEX CONCURRENTLY` under the same name and the same columns, and check it is
 * valid (`\d inbox` must not say INVALID; drop and rebuild one that does): this migration then
 * only drops the old constraint.
 */
export const inboxPerAccountMigration: Migration = {
  name: "0034_inbox_per_account",
  statements: (n: QualifiedNames) => [
    `CREATE UNIQUE INDEX IF NOT EXISTS inbox_dedupe_per_account
      ON ${n.inbox} (channel, callback, (COALESCE(account, '')), dedupe_key)`,
    // An index left INVALID by a CONCURRENTLY build that failed enforces nothing: refuse to drop
    // the old constraint on its word (every insert naming the new key would then fail).
    `DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_index WHERE NOT indisvalid
          AND indexrelid = to_regclass('${n.schema}.inbox_dedupe_per_account')) THEN
        RAISE EXCEPTION 'the index inbox_dedupe_per_account is INVALID (a CREATE INDEX CONCURRENTLY that failed): drop it, build it again, then run capflow migrate';
      END IF;
    END $$`,
    `ALTER TABLE ${n.inbox} DROP CONSTRAINT IF EXISTS inbox_dedupe_per_callback`,
  ],
};
