/**
 * @capflow/reconcile — reconciliation (对账): each funder's daily statement, fetched from a
 * file, an HTTP URL or SFTP, read as CSV/TSV, fixed-width or xlsx (zip or gzip around it, GBK or
 * UTF-8), and matched against capflow's instances for a business date in PostgreSQL (or PGlite).
 *
 * ```ts
 * import { loadStatementsOrThrow, StatementReader, openStatementBytes } from "@capflow/reconcile";
 *
 * const [statement] = await loadStatementsOrThrow("./definitions");
 * const reader = new StatementReader(statement!, await openStatementBytes("loan-20261205.csv", statement!));
 * for await (const line of reader.lines()) console.log(line.businessKey, line.amountMinor);
 * console.log(reader.totals());
 * ```
 */
export { type AmountUnit, formatMinor, parseAmount } from "./amount.ts";
export {
  checkStatement,
  type LoadedStatements,
  type LoadStatementsOptions,
  loadStatements,
  loadStatementsOrThrow,
  statementFileSuffix,
  statementSchema,
} from "./load-statements.ts";
export { openStatementBytes } from "./open-statement-bytes.ts";
export { type StatementLine, StatementReader, type StatementTotals } from "./read-statement.ts";
export type {
  ColumnRef,
  OurStatus,
  StatementDefinition,
  StatementFormat,
  StatementLayout,
  StatementSource,
  DeclaredTotals,
} from "./statement-definition.ts";
export { statementDigest } from "./statement-digest.ts";
export { readStatementRows, type StatementRow } from "./statement-rows.ts";
export type { StatementInterfaceCaller } from "./fetch-through-interface.ts";
export {
  type FetchedStatement,
  type FetchStatementOptions,
  expandDatePattern,
  fetchStatement,
} from "./fetch-statement.ts";
export {
  type DifferenceKind,
  type DifferenceRecord,
  differenceKinds,
  type OurSide,
  ReconcileStore,
  type RunCounts,
  type RunFence,
  type RunRecord,
  type StopRecord,
} from "./reconcile-store.ts";
export {
  describeCounts,
  formatFen,
  type ReconciliationResult,
  type RunReconciliationOptions,
  runReconciliation,
  yesterdayIn,
} from "./run-reconciliation.ts";
export { reconciliationAlerts, reconciliationSubject } from "./reconciliation-alerts.ts";
export {
  ReconcileSchedule,
  type ReconcileScheduleOptions,
  type ScheduleCheck,
  type ScheduledRunEvent,
} from "./reconcile-schedule.ts";
