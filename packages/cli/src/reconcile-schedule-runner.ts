import { resolve } from "node:path";
import { describeCounts, loadStatementsOrThrow, ReconcileSchedule } from "@capflow/reconcile";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { CliContext } from "./cli-context.ts";
import type { WorkerReporter } from "./worker-report.ts";

/**
 * `capflow worker --statements <dir>`: the statements of the folder that have a `schedule`,
 * reconciled daily after each funder's cut-off by whichever worker gets there first (one node at
 * a time), each run or failure reported as a line.
 */
export async function startReconcileSchedule(
  db: CapflowDatabase,
  dir: string,
  context: CliContext,
  report: Pick<WorkerReporter, "note">,
): Promise<ReconcileSchedule> {
  const baseDir = resolve(context.cwd, dir);
  const statements = await loadStatementsOrThrow(baseDir);
  const schedule = new ReconcileSchedule({
    db,
    statements,
    baseDir,
    onRun(event) {
      const name = `${event.statement.channel}/${event.statement.code} ${event.businessDate}`;
      if ("error" in event) {
        const message = event.error instanceof Error ? event.error.message : String(event.error);
        report.note(
          "reconcile",
          `${new Date().toISOString()} reconcile ${name}: not yet: ${message}`,
        );
      } else {
        report.note(
          "reconcile",
          `${new Date().toISOString()} reconcile ${name}: ${describeCounts(event.result.run)} (run ${event.result.run.id})`,
        );
      }
    },
  });
  const scheduled = statements.filter((statement) => statement.schedule !== undefined);
  report.note(
    "reconcile",
    `reconciling ${scheduled.map((s) => `${s.channel}/${s.code} after ${s.schedule?.after}`).join(", ") || "nothing (no statement has a schedule)"}`,
  );
  schedule.start();
  return schedule;
}
