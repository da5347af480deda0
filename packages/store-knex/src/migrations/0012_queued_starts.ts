import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Queued starts (peak shaving): one row per start waiting for admission, in FIFO order per channel
 * and behavior (`queued_starts_fifo`: enqueue time, then `seq`, the order of arrival); a business key is queued once at a time (the partial unique
 * index). Rows stay after they leave the queue (started, expired, failed) as history.
 */
export const queuedStartsMigration: Migration = {
  name: "0012_queued_starts",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.schema}."queued_starts" (
      id uuid PRIMARY KEY,
      seq bigserial NOT NULL,
      channel text NOT NULL,
      behavior text NOT NULL,
      business_key text NOT NULL,
      input jsonb NOT NULL,
      status text NOT NULL CHECK (status IN ('queued', 'started', 'expired', 'failed')),
      enqueued_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      instance_id text,
      last_error jsonb,
      finished_at timestamptz
    )`,
    `CREATE UNIQUE INDEX queued_starts_once ON ${n.schema}."queued_starts" (channel, behavior, business_key)
      WHERE status = 'queued'`,
    `CREATE INDEX queued_starts_fifo ON ${n.schema}."queued_starts" (channel, behavior, enqueued_at, seq)
      WHERE status = 'queued'`,
    `CREATE INDEX queued_starts_expiry ON ${n.schema}."queued_starts" (expires_at) WHERE status = 'queued'`,
  ],
};
