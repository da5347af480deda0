import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The inbox sweep's scan: unprocessed notifications of any business key, oldest first
 * (`staleInbox`). `inbox_pending` leads with (channel, business_key) and cannot serve it. Partial,
 * like that one: processed rows, nearly all of them over time, stay out of the index.
 */
export const inboxStaleMigration: Migration = {
  name: "0002_inbox_stale",
  statements: (n: QualifiedNames) => [
    `CREATE INDEX inbox_stale ON ${n.inbox} (received_at, id) WHERE processed_at IS NULL`,
  ],
};
