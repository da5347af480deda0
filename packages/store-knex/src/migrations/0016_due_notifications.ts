import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Workers hear about due instances at once: a row of `instances` that becomes claimable within
 * the next ten seconds (started, woken by a stored callback, its lease given back, a retry coming
 * due) sends `NOTIFY "<schema>.due"` with `{"channel": …, "at": <epoch ms>}` when its transaction
 * commits. Rows claimed or leased past their due time (a worker chaining steps, an intent commit)
 * and settled rows send nothing, so the steps of running instances cost no notification.
 *
 * Notifications are hints: workers keep polling, and a notice sent while no worker listens is
 * simply lost. The channel name is the schema's first 59 characters and `.due` (NOTIFY's limit is
 * 63): workers on another schema of the same database are not disturbed.
 */
export const dueNotificationsMigration: Migration = {
  name: "0016_due_notifications",
  statements: (n: QualifiedNames) => {
    const claimableSoon = `NEW.status IN ('active', 'waiting') AND NEW.next_run_at IS NOT NULL
        AND NEW.next_run_at <= now() + interval '10 seconds'
        AND (NEW.lease_until IS NULL OR NEW.lease_until <= NEW.next_run_at)`;
    return [
      `CREATE FUNCTION ${n.notifyDue}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify(left(TG_TABLE_SCHEMA, 59) || '.due',
          json_build_object('channel', NEW.channel,
            'at', floor(extract(epoch FROM NEW.next_run_at) * 1000))::text);
        RETURN NULL;
      END $$`,
      `CREATE TRIGGER instances_due_on_insert AFTER INSERT ON ${n.instances}
        FOR EACH ROW WHEN (${claimableSoon})
        EXECUTE FUNCTION ${n.notifyDue}()`,
      `CREATE TRIGGER instances_due_on_update
        AFTER UPDATE OF next_run_at, lease_until, status ON ${n.instances}
        FOR EACH ROW WHEN (${claimableSoon}
          AND (OLD.next_run_at IS DISTINCT FROM NEW.next_run_at
            OR OLD.lease_until IS DISTINCT FROM NEW.lease_until
            OR OLD.status IS DISTINCT FROM NEW.status))
        EXECUTE FUNCTION ${n.notifyDue}()`,
    ];
  },
};
