import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Room on each page of `instances` for the row's next version: a step updates its instance two or
 * three times (the claim's lease, the intent before a call, the commit). An update that changes no
 * indexed column (the lease, the intent: `updated_at` is left alone, see
 * `Transition.keepUpdatedAt`) is a HOT update when the new version fits on the same page: no new
 * entry in any of the table's indexes and a smaller WAL record. Pages written from now on keep 30%
 * free; existing pages get the room as they are rewritten (VACUUM FULL or pg_repack rewrites all).
 */
export const instancesRoomForUpdatesMigration: Migration = {
  name: "0022_instances_room_for_updates",
  statements: (n: QualifiedNames) => [`ALTER TABLE ${n.instances} SET (fillfactor = 70)`],
};
