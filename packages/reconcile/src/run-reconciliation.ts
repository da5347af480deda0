import { type AlertMonitor, CapflowError } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type { CapflowDatabase } from "@capflow/store-knex";
import { DateTime } from "luxon";
import { formatMinor } from "./amount.ts";
import { type FetchStatementOptions, fetchStatement } from "./fetch-statement.ts";
import { openStatementBytes } from "./open-statement-bytes.ts";
import { type StatementLine, StatementReader } from "./read-statement.ts";
import { type DifferenceRecord, ReconcileStore, type RunRecord } from "./reconcile-store.ts";
import type { StatementDefinition } from "./statement-definition.ts";
import { statementDigest } from "./statement-digest.ts";

export interface RunReconciliationOptions extends FetchStatementOptions {
  db: Pick<CapflowDatabase, "knex" | "schema">;
  statement: StatementDefinition;
  /** The business date, `yyyy-MM-dd`, in the statement's time zone. */
  businessDate: string;
  /** A file to read instead of the statement's source (a file the funder sent by other means). */
  file?: string;
  /**
   * Reconcile anew even when this file was reconciled for the date with this definition (after
   * fixing our instances): a new run, compared with the earlier one. A changed definition needs
   * no flag: it is part of a run's identity.
   */
  again?: boolean;
  /** Who started the run (an operator, `schedule`). */
  startedBy?: string;
  /** Lines staged per statement. Default 5000. */
  batchSize?: number;
  /** A run left running this long is taken over by the next one. Default 30 minutes. */
  staleAfterMs?: number;
  /** Called with each run's differences once it completes (alerts). Not called for a reused run. */
  onDifferences?: (run: RunRecord, differences: DifferenceRecord[]) => Promise<void> | void;
  /**
   * The alert monitor (with `reconciliation: reconciliationAlerts(db)`): its `reconciliation`
   * rules are evaluated after each run, made or reused, so differences are sent at once and an
   * earlier file's alert resolves when this one has none.
   */
  alerts?: Pick<AlertMonitor, "evaluate">;
  now?: () => Date;
}

export interface ReconciliationResult {
  run: RunRecord;
  /**
   * True when this file was reconciled for this date with this definition before: nothing was
   * done again (unless `again`).
   */
  reused: boolean;
}

/**
 * Reconciles one statement for one business date: fetches the file (or reads `file`), reads it
 * line by line into the database in batches, matches the lines with SQL against the instances of
 * the statement's behaviors, and stores the run with every difference. The same file read with
 * the same definition returns the run already made (unless `again`); a different file or
 * definition for the date is a new run, compared with the earlier one.
 */
export async function runReconciliation(
  options: RunReconciliationOptions,
): Promise<ReconciliationResult> {
  const { statement, businessDate } = options;
  const now = options.now ?? (() => new Date());
  const day = DateTime.fromISO(businessDate, { zone: statement.timeZone });
  if (!/^\d{4}-\d{2}-\d{2}$/.test(businessDate) || !day.isValid) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${businessDate} is not a business date; write it as yyyy-MM-dd`,
    );
  }
  const fetched =
    options.file === undefined
      ? await fetchStatement(statement, businessDate, options)
      : await fetchStatement(
          { ...statement, source: { kind: "file", path: options.file } },
          businessDate,
          {
            ...options,
            baseDir: process.cwd(),
          },
        );
  const store = new ReconcileStore(options.db);
  try {
    const begun = await store.beginRun({
      channel: statement.channel,
      statement: statement.code,
      businessDate,
      fileDigest: fetched.digest,
      definitionDigest: statementDigest(statement),
      ...(options.again === true ? { again: true } : {}),
      fileName: fetched.name,
      fileBytes: fetched.bytes,
      ...(options.startedBy === undefined ? {} : { startedBy: options.startedBy }),
      now: now(),
      staleAfterMs: options.staleAfterMs ?? 30 * 60_000,
    });
    if (begun.existing) {
      await options.alerts?.evaluate({ kinds: ["reconciliation"] });
      return { run: begun.run, reused: true };
    }
    // Every write carries the run's generation: once taken over, its writes are refused.
    const fence = begun.run;
    let run: RunRecord;
    try {
      const reader = new StatementReader(
        statement,
        await openStatementBytes(fetched.path, statement),
      );
      const batchSize = options.batchSize ?? 5000;
      let batch: StatementLine[] = [];
      for await (const line of reader.lines()) {
        batch.push(line);
        if (batch.length >= batchSize) {
          await store.addLines(fence, batch);
          batch = [];
        }
      }
      await store.addLines(fence, batch);
      const totals = reader.totals();
      const ours = statement.ours ?? {};
      const counts = await store.match(fence, {
        channel: statement.channel,
        behaviors: statement.behaviors,
        amountPath: ours.amount ?? "input.amount",
        amountUnit: ours.amountUnit ?? "yuan",
        ...(ours.partnerReference === undefined
          ? {}
          : { partnerReferencePath: ours.partnerReference }),
        dateColumn: (ours.date ?? "updatedAt") === "createdAt" ? "created_at" : "updated_at",
        expectStatuses: ours.expect ?? ["succeeded"],
        from: day.startOf("day").toJSDate(),
        to: day.startOf("day").plus({ days: 1 }).toJSDate(),
        sameDay: {
          from: day
            .startOf("day")
            .minus(parseDuration(statement.dayMargin?.before ?? "0s"))
            .toJSDate(),
          to: day
            .startOf("day")
            .plus({ days: 1 })
            .plus(parseDuration(statement.dayMargin?.after ?? "0s"))
            .toJSDate(),
        },
      });
      const declared = {
        ...(totals.declared.count === undefined ? {} : { count: totals.declared.count }),
        ...(totals.declared.amountMinor === undefined
          ? {}
          : { amount: totals.declared.amountMinor.toString() }),
      };
      const counted = { count: totals.lines.count, amount: totals.lines.amountMinor.toString() };
      const countOff = declared.count !== undefined && declared.count !== counted.count;
      const amountOff = declared.amount !== undefined && declared.amount !== counted.amount;
      if (countOff || amountOff) {
        await store.addTotalsDifference(fence, declared, counted);
        counts["totals-mismatch"] = 1;
      }
      const previous = await store.previousRun(begun.run);
      const comparison =
        previous === undefined ? undefined : await store.compare(fence, previous.id);
      run = await store.completeRun(fence, {
        lineCount: totals.lines.count,
        counts,
        totals: { declared, lines: counted },
        ...(previous === undefined ? {} : { comparedWith: previous.id }),
        ...(comparison === undefined ? {} : { comparison }),
        now: now(),
      });
    } catch (error) {
      const failure = error instanceof CapflowError ? error : undefined;
      if (failure?.code === "RECONCILE_TAKEN_OVER") throw error;
      await store
        .failRun(
          fence,
          {
            code: failure?.code ?? "INTERNAL",
            message: (error as Error)?.message ?? String(error),
          },
          now(),
        )
        .catch(() => {});
      throw error;
    }
    // The run is stored: what follows tells others, and never turns it into a failed run.
    if (options.onDifferences !== undefined) {
      await options.onDifferences(run, await store.listDifferences(run.id, { limit: 10_000 }));
    }
    await options.alerts?.evaluate({ kinds: ["reconciliation"] });
    return { run, reused: false };
  } finally {
    await fetched.release();
  }
}

/** One line per category, for people: `matched 120, amount-mismatch 1 …`. */
export function describeCounts(run: RunRecord): string {
  const counts = run.counts;
  if (counts === undefined) return run.state;
  return Object.entries(counts)
    .filter(([kind, n]) => n > 0 || kind === "matched")
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ");
}

/** Fen as yuan text, for summaries. */
export function formatFen(fen: string | undefined): string {
  return fen === undefined ? "-" : formatMinor(fen);
}

/** Yesterday's date (`yyyy-MM-dd`) in a time zone: the business date a morning run reconciles. */
export function yesterdayIn(timeZone: string, now: Date = new Date()): string {
  return DateTime.fromJSDate(now, { zone: timeZone }).minus({ days: 1 }).toISODate()!;
}
