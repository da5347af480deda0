import type { OpenReconciliation } from "@capflow/core";
import type { CapflowDatabase } from "@capflow/store-knex";
import { ReconcileStore } from "./reconcile-store.ts";

/**
 * The conditions of the alert monitor's `reconciliation` rule: one per statement, business date
 * and file whose latest run left differences unresolved. The subject names the file's digest, so
 * the same file reconciled again is the same alert (sent once), a corrected file with differences
 * is a new one, and the earlier alert resolves as soon as a later run has none or an operator has
 * resolved them all.
 *
 * ```ts
 * const alerts = new AlertMonitor({ config, store, clock, reconciliation: reconciliationAlerts(db) });
 * await runReconciliation({ db, statement, businessDate, alerts });
 * ```
 */
export function reconciliationAlerts(
  db: Pick<CapflowDatabase, "knex" | "schema">,
): () => Promise<OpenReconciliation[]> {
  const store = new ReconcileStore(db);
  return async () =>
    (await store.openRuns()).map(({ run, open }) => {
      const total = Object.values(open).reduce((sum, n) => sum + (n ?? 0), 0);
      const kinds = Object.entries(open)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(", ");
      return {
        channel: run.channel,
        subject: reconciliationSubject(run),
        summary: `${run.channel}/${run.statement} ${run.businessDate}: ${total} difference${total === 1 ? "" : "s"} open (${kinds}) in ${run.fileName}; see capflow reconcile show ${run.id} --unresolved`,
        details: {
          channel: run.channel,
          statement: run.statement,
          businessDate: run.businessDate,
          fileName: run.fileName,
          fileDigest: run.fileDigest,
          run: run.id,
          open,
        },
      };
    });
}

/** `lanbank/loan-daily 2026-12-05 sha256:4f1c2a9e0b7d`: a statement, a date, a file. */
export function reconciliationSubject(run: {
  channel: string;
  statement: string;
  businessDate: string;
  fileDigest: string;
}): string {
  return `${run.channel}/${run.statement} ${run.businessDate} sha256:${run.fileDigest.slice(0, 12)}`;
}
