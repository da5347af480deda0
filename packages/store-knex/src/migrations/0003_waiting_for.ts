import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Callbacks wake only the instances that wait for them, and a notification is applied once.
 *
 * `instances.waiting_for` names the callback a waiting instance waits for at a callback step
 * (NULL otherwise). `wake()` after an inbox insert moves only rows waiting for that callback: a
 * parked call, a delay or a poll's schedule no longer runs early because some notification came
 * for the same business key. Instances already waiting at a callback step get the column from
 * their pinned behavior version's definition in `behaviors`; where definitions are not kept in this
 * database, they keep NULL and a callback for them is applied at their next scheduled run (poll or
 * deadline) instead of at once.
 *
 * `has_pending_callback` replaces `has_pending_inbox` in the commit statement (which stays, unused,
 * since migrations are append-only): only entries of the awaited callback make a commit into
 * `waiting` due now. It is VOLATILE for the reason given in migration 0001.
 *
 * `inbox_consumed` fails the commit statement, and so rolls it back whole, when an entry it
 * consumes was processed already (two instances sharing a business key raced for one
 * notification). SQLSTATE CF409 is capflow's own; the store reports it as STORE_CONFLICT.
 */
export const waitingForMigration: Migration = {
  name: "0003_waiting_for",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.instances} ADD COLUMN waiting_for text`,
    `UPDATE ${n.instances} i SET waiting_for = b.definition -> 'steps' -> i.step ->> 'callback'
      FROM ${n.behaviors} b
      WHERE i.status = 'waiting' AND b.channel = i.channel AND b.code = i.behavior
        AND b.version = i.behavior_version
        AND b.definition -> 'steps' -> i.step ->> 'kind' = 'callback'`,
    `CREATE FUNCTION ${n.hasPendingCallback}(p_channel text, p_business_key text, p_callback text,
        p_consumed text[])
      RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      RETURN EXISTS (
        SELECT 1 FROM ${n.inbox}
        WHERE channel = p_channel AND business_key = p_business_key AND callback = p_callback
          AND processed_at IS NULL AND id <> ALL (p_consumed)
      );
    END $$`,
    `CREATE FUNCTION ${n.inboxConsumed}(p_applied bigint, p_expected integer)
      RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      IF p_applied < p_expected THEN
        RAISE EXCEPTION 'an inbox entry this commit applies was applied to another instance first'
          USING ERRCODE = 'CF409';
      END IF;
      RETURN true;
    END $$`,
  ],
};
