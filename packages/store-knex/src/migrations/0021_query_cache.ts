import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Cached query answers shared by every node: one row per key, replaced once expired. A valid row is
 * never overwritten (`ON CONFLICT … WHERE expires_at <= now`), so two nodes answering at once keep
 * the first answer.
 */
export const queryCacheMigration: Migration = {
  name: "0021_query_cache",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.schema}."query_cache" (
      key text PRIMARY KEY,
      channel text NOT NULL,
      behavior text NOT NULL,
      instance_id text NOT NULL,
      value jsonb NOT NULL,
      stored_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL
    )`,
    `CREATE INDEX query_cache_expires ON ${n.schema}."query_cache" (expires_at)`,
  ],
};
