import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The first schema: definitions (channels, versioned behaviors), processor metadata, and the
 * engine's runtime tables (instances, step logs, callback inbox).
 *
 * Choices worth knowing (docs/operations.md has the long form):
 * - Steps live inside the behavior definition; there is no `steps` table. A behavior version is
 *   immutable and always read whole (the engine builds its graph from it), so a separate table
 *   would only add joins and a way for a version's steps to drift from its digest.
 * - Definitions are `json`, not `jsonb`: `json` keeps the author's key order, so `capflow pull`
 *   writes back files that diff cleanly against the ones pushed. Nothing queries inside them.
 * - Times are `timestamptz` (the engine's epoch milliseconds, kept exactly): operators can read
 *   them and compare with `now()`. The engine always passes its own clock; SQL never calls `now()`
 *   on the hot path, so tests with a manual clock behave like production.
 */
export const initialMigration: Migration = {
  name: "0001_initial",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.channels} (
      code text PRIMARY KEY,
      definition json NOT NULL,
      digest text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,

    // One row per pushed version. `active` marks the version new instances start on; instances
    // stay pinned to the version they started with, so a version's content never changes.
    `CREATE TABLE ${n.behaviors} (
      channel text NOT NULL,
      code text NOT NULL,
      version integer NOT NULL CHECK (version > 0),
      definition json NOT NULL,
      digest text NOT NULL,
      active boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (channel, code, version)
    )`,
    // At most one active version per behavior, enforced by the database.
    `CREATE UNIQUE INDEX behaviors_one_active ON ${n.behaviors} (channel, code) WHERE active`,
    // Pinned versions are immutable: only `active` (and its `updated_at`) may change.
    `CREATE FUNCTION ${n.schema}.behavior_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.channel IS DISTINCT FROM OLD.channel OR NEW.code IS DISTINCT FROM OLD.code
        OR NEW.version IS DISTINCT FROM OLD.version OR NEW.digest IS DISTINCT FROM OLD.digest
        OR NEW.definition::text IS DISTINCT FROM OLD.definition::text THEN
        RAISE EXCEPTION 'behavior %/% version % is immutable (instances are pinned to it): push the change as a new version',
          OLD.channel, OLD.code, OLD.version;
      END IF;
      RETURN NEW;
    END $$`,
    `CREATE TRIGGER behaviors_immutable BEFORE UPDATE ON ${n.behaviors}
      FOR EACH ROW EXECUTE FUNCTION ${n.schema}.behavior_version_immutable()`,

    `CREATE TABLE ${n.processors} (
      name text PRIMARY KEY,
      label text NOT NULL,
      description text,
      params jsonb NOT NULL,
      returns jsonb NOT NULL,
      source jsonb NOT NULL,
      synced_at timestamptz NOT NULL
    )`,

    // `input`, `context` and `snapshot` hold JSON values (JSON null included), never SQL NULL;
    // `in_flight` and `last_error` are SQL NULL when absent so `WHERE in_flight IS NOT NULL` works.
    `CREATE TABLE ${n.instances} (
      id text PRIMARY KEY,
      channel text NOT NULL,
      behavior text NOT NULL,
      behavior_version integer NOT NULL,
      business_key text NOT NULL,
      input jsonb NOT NULL,
      input_digest text NOT NULL,
      step text NOT NULL,
      status text NOT NULL
        CHECK (status IN ('active', 'waiting', 'succeeded', 'failed', 'manual', 'cancelled')),
      context jsonb NOT NULL,
      snapshot jsonb NOT NULL,
      version integer NOT NULL DEFAULT 1,
      attempt integer NOT NULL DEFAULT 0,
      in_flight jsonb,
      last_error jsonb,
      next_run_at timestamptz,
      lease_owner text,
      lease_until timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      -- The identity of an instance. Column order (channel, business_key, behavior) rather than
      -- the natural (channel, behavior, business_key): uniqueness is the same, and the index then
      -- also serves lookups by (channel, business_key) alone: wake() after a callback arrives.
      CONSTRAINT instances_business_key UNIQUE (channel, business_key, behavior)
    )`,
    // Due instances, the claim query's scan: ordered by next_run_at, only rows that can run.
    // Settled instances (most rows, over time) are left out, so the index stays small and hot.
    `CREATE INDEX instances_due ON ${n.instances} (next_run_at)
      WHERE status IN ('active', 'waiting') AND next_run_at IS NOT NULL`,
    // Stuck instances for monitoring: `status IN (…) AND updated_at < now() - interval`.
    `CREATE INDEX instances_status_updated ON ${n.instances} (status, updated_at)`,

    // Written once per transition, in the same statement as the instance update. No foreign key to
    // instances: the insert is built from the updated row itself, so the reference cannot dangle,
    // and the table can then be archived or partitioned by time on its own.
    `CREATE TABLE ${n.stepLogs} (
      id uuid PRIMARY KEY,
      instance_id text NOT NULL,
      version integer NOT NULL,
      step text NOT NULL,
      attempt integer NOT NULL,
      event text NOT NULL,
      from_step text,
      to_step text,
      from_status text,
      to_status text,
      outcome text,
      request jsonb,
      response jsonb,
      raw jsonb,
      error jsonb,
      actor jsonb,
      started_at timestamptz NOT NULL,
      duration_ms double precision NOT NULL,
      -- One entry per version an instance reaches: a second writer of the same version is a bug
      -- the database refuses. Also the index for an instance's history, in order.
      CONSTRAINT step_logs_instance_version UNIQUE (instance_id, version)
    )`,

    // Insert-only store of inbound callbacks; processed_at is set when a transition consumes one.
    `CREATE TABLE ${n.inbox} (
      id text PRIMARY KEY,
      channel text NOT NULL,
      callback text NOT NULL,
      dedupe_key text NOT NULL,
      business_key text NOT NULL,
      payload jsonb NOT NULL,
      received_at timestamptz NOT NULL,
      processed_at timestamptz,
      instance_id text,
      -- A callback is applied at most once per channel (see concepts.md, "The money rules").
      CONSTRAINT inbox_dedupe UNIQUE (channel, dedupe_key)
    )`,
    // Pending callbacks of one business key, oldest first: read when an instance reaches a callback
    // step, and checked by every commit into `waiting`. Processed rows drop out of the index.
    `CREATE INDEX inbox_pending ON ${n.inbox} (channel, business_key, received_at)
      WHERE processed_at IS NULL`,

    // Whether unprocessed callbacks exist for a business key, ignoring those being consumed.
    // Called by commitTransition inside its UPDATE. It is plpgsql and VOLATILE on purpose: a
    // volatile function takes a fresh snapshot for each query, and PostgreSQL evaluates the SET
    // list again after waiting for a row lock. So a callback whose wake() raced the commit is seen
    // either here or by wake() itself (which then waits for our row lock and updates our new row);
    // a plain EXISTS in the UPDATE would use the statement's older snapshot and could miss it.
    `CREATE FUNCTION ${n.hasPendingInbox}(p_channel text, p_business_key text, p_consumed text[])
      RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      RETURN EXISTS (
        SELECT 1 FROM ${n.inbox}
        WHERE channel = p_channel AND business_key = p_business_key
          AND processed_at IS NULL AND id <> ALL (p_consumed)
      );
    END $$`,
  ],
};
