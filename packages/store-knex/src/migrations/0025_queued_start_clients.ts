import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * A queued start remembers the upstream client that asked for it, so the start's instance, or its
 * expiry when it is never started, is notified to that client (the outbox's `target`).
 */
export const queuedStartClientsMigration: Migration = {
  name: "0025_queued_start_clients",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.schema}."queued_starts" ADD COLUMN upstream_client text`,
  ],
};
