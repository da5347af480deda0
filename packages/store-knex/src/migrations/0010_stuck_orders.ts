import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Stuck orders (卡单): when an instance came to its current step, and the breaches of a
 * service-level limit the monitor found.
 *
 * - `instances.step_entered_at`: set by a trigger whenever `step` changes (to the commit's
 *   `updated_at`, the engine's clock); NULL until the first change, read as `created_at`. The
 *   trigger fires only on a change of step (its WHEN clause), not on every commit, and the commit
 *   statement is unchanged. Existing unsettled rows start from `updated_at`.
 * - `sla_breaches`: one row per breach, unique per (instance, scope, since), so a breach is
 *   recorded, and fired, once whichever node or round sees it; `resolved_at` is set when the
 *   instance settles or leaves the step. Rows stay as history.
 * - `instances_unsettled_created`: the monitor's scan of unsettled instances, oldest first.
 */
export const stuckOrdersMigration: Migration = {
  name: "0010_stuck_orders",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.instances} ADD COLUMN step_entered_at timestamptz`,
    `UPDATE ${n.instances} SET step_entered_at = updated_at WHERE status IN ('active', 'waiting')`,
    `CREATE FUNCTION ${n.schema}.instance_step_entered() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.step_entered_at := NEW.updated_at;
      RETURN NEW;
    END $$`,
    `CREATE TRIGGER instances_step_entered BEFORE UPDATE OF step ON ${n.instances}
      FOR EACH ROW WHEN (OLD.step IS DISTINCT FROM NEW.step)
      EXECUTE FUNCTION ${n.schema}.instance_step_entered()`,
    `CREATE INDEX instances_unsettled_created ON ${n.instances} (created_at, id COLLATE "C")
      WHERE status IN ('active', 'waiting')`,
    `CREATE TABLE ${n.schema}."sla_breaches" (
      id uuid PRIMARY KEY,
      instance_id text NOT NULL,
      channel text NOT NULL,
      behavior text NOT NULL,
      business_key text NOT NULL,
      step text NOT NULL,
      scope text NOT NULL CHECK (scope IN ('behavior', 'step')),
      sla_ms bigint NOT NULL,
      since timestamptz NOT NULL,
      detected_at timestamptz NOT NULL,
      resolved_at timestamptz,
      CONSTRAINT sla_breaches_once UNIQUE (instance_id, scope, since)
    )`,
    `CREATE INDEX sla_breaches_open ON ${n.schema}."sla_breaches" (detected_at)
      WHERE resolved_at IS NULL`,
  ],
};
