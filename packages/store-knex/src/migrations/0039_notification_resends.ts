import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Each re-send of a notification, with who asked and why, written in the same statement as the
 * re-send itself. It changes nothing about the instance, so it is not a step log (one entry per
 * version the instance reaches): it records the instance's version, step, attempt and status at that
 * moment, and the instance's history shows it after that version's own entry. A worker mid-step
 * keeps its compare-and-set. `instance_id` is the notification's (a queued start's id for
 * `start.*`); `version` is null when no instance has that id. The outbox row keeps the last
 * reason next to `resent_by`.
 */
export const notificationResendsMigration: Migration = {
  name: "0039_notification_resends",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.notificationResends} (
      id uuid PRIMARY KEY,
      notification_id text NOT NULL,
      instance_id text NOT NULL,
      version integer,
      step text,
      attempt integer,
      status text,
      resent_by text NOT NULL,
      reason text NOT NULL,
      resent_at timestamptz NOT NULL
    )`,
    `CREATE INDEX notification_resends_instance ON ${n.notificationResends} (instance_id, version)`,
    `ALTER TABLE ${n.outbox} ADD COLUMN IF NOT EXISTS resent_reason text`,
  ],
};
