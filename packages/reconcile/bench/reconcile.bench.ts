/**
 * `pnpm bench reconcile`: a statement of RECONCILE_BENCH_LINES lines (default 1,000,000) against
 * as many instances on PostgreSQL, reconciled by capflow (lines staged in batches, matched in
 * SQL) and, as the reference in the same run, by a hand-written job that reads the file into a
 * Map and matches every instance loaded from the database. Each runs in a child process of its
 * own: reported are lines per second and peak memory (RSS from getrusage, heap sampled).
 */
import { join } from "node:path";
import type { MeasuredBench } from "../../../bench/run.ts";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import {
  plantScaleInstances,
  reconcileInChild,
  type ScaleRunReport,
  writeScaleStatement,
} from "../test/support/scale.ts";
import { statementFolder } from "../test/support/statement-files.ts";

export async function measure(): Promise<MeasuredBench> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    return {
      rows: [],
      results: [],
      lines: ["reconcile: skipped; set DATABASE_URL=postgres://… to run the reconciliation bench"],
    };
  }
  const lines = Number(process.env.RECONCILE_BENCH_LINES ?? 1_000_000);
  const db = await openTestPostgres({ schema: `capflow_bench_${Date.now().toString(36)}` });
  const folder = await statementFolder();
  try {
    await plantScaleInstances(db, lines);
    const file = join(folder.dir, "statement.csv");
    await writeScaleStatement(file, lines);
    const runs: Record<string, ScaleRunReport> = {};
    for (const mode of ["reconcile", "in-memory"] as const) {
      runs[mode] = await reconcileInChild({ databaseUrl, schema: db.schema, file, mode });
    }
    const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
    const rows = Object.entries(runs).map(([mode, run]) => ({
      job: mode === "reconcile" ? "capflow reconcile (SQL)" : "reference: Map in memory",
      lines: run.lines,
      seconds: Number(run.seconds.toFixed(1)),
      "lines/s": Math.round(run.linesPerSecond),
      "peak RSS MiB": mib(run.peakRss),
      "peak heap MiB": mib(run.peakHeap),
    }));
    const ours = runs.reconcile!;
    const reference = runs["in-memory"]!;
    return {
      rows,
      results: rows.map((row) => ({ file: "reconcile", ...row })),
      lines: [
        `reconcile: ${ours.lines} lines at ${Math.round(ours.linesPerSecond)} lines/s, peak RSS ${mib(ours.peakRss)} MiB`,
        `reconcile / in-memory reference: speed ${(ours.linesPerSecond / reference.linesPerSecond).toFixed(2)}x, peak RSS ${(ours.peakRss / reference.peakRss).toFixed(2)}x (the reference holds both sides in memory and checks fewer categories)`,
      ],
    };
  } finally {
    await db.drop();
    await folder.remove();
  }
}
