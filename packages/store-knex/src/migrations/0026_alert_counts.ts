import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Counts behind alert rules in 10-second buckets (calls and failures, limiter refusals, refused
 * callbacks), added to by every node with an upsert and read by the node that evaluates, so rates
 * are judged over the cluster. Old buckets are deleted by the evaluating node.
 */
export const alertCountsMigration: Migration = {
  name: "0026_alert_counts",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.schema}."alert_counts" (
      signal text NOT NULL,
      channel text NOT NULL,
      subject text NOT NULL,
      bucket timestamptz NOT NULL,
      total bigint NOT NULL,
      hits bigint NOT NULL,
      PRIMARY KEY (signal, channel, subject, bucket)
    )`,
    `CREATE INDEX alert_counts_bucket ON ${n.schema}."alert_counts" (bucket)`,
  ],
};
