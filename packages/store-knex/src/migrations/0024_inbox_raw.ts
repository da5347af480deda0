import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Notifications as received, for callbacks that keep them (`keepRawBody`): text and, in a charset
 * other than UTF-8, the exact bytes (base64), sealed with the operator's raw message key
 * (`RawMessageKeyring`). Null for every other entry; never masked, so kept in its own column that
 * no operator view reads.
 */
export const inboxRawMigration: Migration = {
  name: "0024_inbox_raw",
  statements: (n: QualifiedNames) => [`ALTER TABLE ${n.inbox} ADD COLUMN raw jsonb`],
};
