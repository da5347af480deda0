import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Reconciliation (`@capflow/reconcile`).
 *
 * - `reconcile_runs`: one row per statement file reconciled for a business date. The file's
 *   SHA-256 is unique per (channel, statement, date): running the same file again finds the run
 *   it already made. `counts` holds the number per category, `totals` what the file declares and
 *   what its lines add up to (fen as text), `compared_with` the earlier run of the same date.
 * - `reconcile_lines`: the statement's lines while a run matches them (emptied when it ends).
 *   Unlogged: a crash loses only a run in progress, which is run again; a million lines go in
 *   without the write-ahead log.
 * - `reconcile_differences`: every difference with both sides (the funder's line, our instance)
 *   as JSON, its key (stable across runs of one date, to compare files), and its resolution.
 */
export const reconciliationMigration: Migration = {
  name: "0013_reconciliation",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.reconcileRuns} (
      id text PRIMARY KEY,
      channel text NOT NULL,
      statement text NOT NULL,
      business_date date NOT NULL,
      file_digest text NOT NULL,
      file_name text NOT NULL,
      file_bytes bigint NOT NULL,
      state text NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
      line_count bigint,
      counts jsonb,
      totals jsonb,
      compared_with text,
      comparison jsonb,
      error jsonb,
      started_by text,
      started_at timestamptz NOT NULL,
      finished_at timestamptz,
      CONSTRAINT reconcile_runs_file UNIQUE (channel, statement, business_date, file_digest)
    )`,
    `CREATE INDEX reconcile_runs_date ON ${n.reconcileRuns}
      (channel, statement, business_date, started_at)`,
    `CREATE INDEX reconcile_runs_started ON ${n.reconcileRuns} (started_at)`,
    `CREATE UNLOGGED TABLE ${n.reconcileLines} (
      run_id text NOT NULL,
      line_no bigint NOT NULL,
      business_key text,
      partner_ref text,
      behavior text,
      amount_minor numeric,
      status text,
      raw_status text,
      occurred_at timestamptz,
      problem text,
      instance_id text,
      duplicate_of bigint
    )`,
    `CREATE INDEX reconcile_lines_run ON ${n.reconcileLines} (run_id, line_no)`,
    `CREATE TABLE ${n.reconcileDifferences} (
      id bigserial PRIMARY KEY,
      run_id text NOT NULL,
      kind text NOT NULL,
      difference_key text NOT NULL,
      line_no bigint,
      business_key text,
      partner_ref text,
      instance_id text,
      funder jsonb,
      ours jsonb,
      seen_before boolean NOT NULL DEFAULT false,
      resolved_at timestamptz,
      resolved_by text,
      resolution text
    )`,
    `CREATE INDEX reconcile_differences_run ON ${n.reconcileDifferences} (run_id, kind, id)`,
    `CREATE INDEX reconcile_differences_key ON ${n.reconcileDifferences} (run_id, difference_key)`,
    `CREATE INDEX reconcile_differences_open ON ${n.reconcileDifferences} (run_id)
      WHERE resolved_at IS NULL`,
  ],
};
