import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Notifications are deduplicated per callback: (channel, callback, dedupe_key). Partners number
 * each kind of notification on its own (a loan result and a repayment result may both carry
 * `notifyNo` 1001); with one key per channel the second kind was acknowledged and dropped as a
 * duplicate of the first. Existing rows satisfy the wider key, so the new constraint builds on
 * them as they are.
 */
export const inboxPerCallbackMigration: Migration = {
  name: "0015_inbox_per_callback",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.inbox} ADD CONSTRAINT inbox_dedupe_per_callback UNIQUE (channel, callback, dedupe_key)`,
    `ALTER TABLE ${n.inbox} DROP CONSTRAINT inbox_dedupe`,
  ],
};
