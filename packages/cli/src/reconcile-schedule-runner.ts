import { resolve } from "node:path";
import {
  describeCounts,
  loadStatementsOrThrow,
  ReconcileSchedule,
  type StatementInterfaceCaller,
} from "@capflow/reconcile";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { CliContext } from "./cli-context.ts";
import { reconciliationAlertMonitor } from "./reconcile-alerts-option.ts";
import type { WorkerReporter } from "./worker-report.ts";

/**
 * `capflow worker --statements <dir>` and `capflow serve --statements <dir>`: the statements of
 * the folder that have a `schedule`, reconciled daily after each funder's cut-off by whichever
 * node gets there first (one at a time), each run or failure reported as a line; with
 * `--alerts <file>`, differences go to its `reconciliation` rules' sinks.
 */
export async function startReconcileSchedule(
  db: CapflowDatabase,
  dir: string,
  context: CliContext,
  report: Pick<WorkerReporter, "note">,
  options: {
    /** Calls the channels' interfaces for statements that come through one. */
    engine?: StatementInterfaceCaller;
    alertsFile?: string;
  } = {},
): Promise<ReconcileSchedule> {
  const { alertsFile } = options;
  const baseDir = resolve(context.cwd, dir);
  const statements = await loadStatementsOrThrow(baseDir);
  const alerts =
    alertsFile === undefined
      ? undefined
      : await reconciliationAlertMonitor(db, alertsFile, context.cwd);
  const toldBusy = new Set<string>();
  const schedule = new ReconcileSchedule({
    db,
    statements,
    baseDir,
    ...(alerts === undefined ? {} : { alerts }),
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    onCheck(check) {
      for (const { statement, businessDate, outcome } of check) {
        // Said once per date: the other node's run line says how it went.
        const key = `${statement} ${businessDate}`;
        if (outcome !== "busy-elsewhere" || toldBusy.has(key)) continue;
        toldBusy.add(key);
        report.note(
          "reconcile",
          `${new Date().toISOString()} reconcile ${key}: another node is reconciling it`,
        );
      }
    },
    onRun(event) {
      const name = `${event.statement.channel}/${event.statement.code} ${event.businessDate}`;
      if ("error" in event) {
        const message = event.error instanceof Error ? event.error.message : String(event.error);
        report.note(
          "reconcile",
          event.stopped === true
            ? `${new Date().toISOString()} reconcile ${name}: stopped, not tried again until an operator clears the stop or the definition changes: ${message}`
            : `${new Date().toISOString()} reconcile ${name}: not yet: ${message}`,
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
