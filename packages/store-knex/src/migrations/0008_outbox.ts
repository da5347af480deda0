import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The transactional outbox: notifications for the upstream, inserted by the commit statement in
 * the same statement as the instance change they report (so a change that does not commit leaves
 * none, and one that commits always has its own), then delivered by a dispatcher.
 *
 * `id` is the event id receivers deduplicate on: unique, and the same across every delivery and
 * re-send. A claim leases rows (`lease_owner`, `lease_until`, FOR UPDATE SKIP LOCKED) and counts
 * the attempt; `next_attempt_at` follows the retry schedule; `status` ends `delivered`, or
 * `failed` when the schedule ran out (kept, listed, re-sendable). No foreign key to instances:
 * like step logs, rows are inserted from the updated row itself and may be archived on their own.
 *
 * `instances.traceparent` keeps the W3C trace context of the request that started an instance, so
 * the spans of its steps join that trace.
 */
export const outboxMigration: Migration = {
  name: "0008_outbox",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.outbox} (
      id text PRIMARY KEY,
      instance_id text NOT NULL,
      type text NOT NULL,
      payload jsonb NOT NULL,
      target text,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      lease_owner text,
      lease_until timestamptz,
      delivered_at timestamptz,
      last_error jsonb,
      resent_by text,
      resent_at timestamptz,
      created_at timestamptz NOT NULL
    )`,
    // The dispatcher's scan: pending rows in due order; delivered ones (nearly all) stay out.
    `CREATE INDEX outbox_due ON ${n.outbox} (next_attempt_at) WHERE status = 'pending'`,
    // The backlog (pending and failed rows, counted for metrics) without reading delivered ones.
    `CREATE INDEX outbox_undelivered ON ${n.outbox} (status, created_at) WHERE status <> 'delivered'`,
    // Operators' listings: newest first, of one instance or all.
    `CREATE INDEX outbox_listing ON ${n.outbox} (created_at DESC, id COLLATE "C" DESC)`,
    `CREATE INDEX outbox_instance ON ${n.outbox} (instance_id, created_at)`,
    `ALTER TABLE ${n.instances} ADD COLUMN traceparent text`,
  ],
};
