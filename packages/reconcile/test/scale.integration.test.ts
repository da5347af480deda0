import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestPostgres, skipMessage } from "../../store-knex/test/support/databases.ts";
import { plantScaleInstances, reconcileInChild, writeScaleStatement } from "./support/scale.ts";
import { statementFolder } from "./support/statement-files.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) console.warn(skipMessage);

/** Lines of the statement; the claim in docs/reconciliation.md is for the default, a million. */
const lines = Number(process.env.RECONCILE_SCALE_LINES ?? 1_000_000);
/**
 * The memory bound docs/reconciliation.md states for a run of any size: V8's heap capped at
 * 96 MiB (a run whose memory grew with the file would die of it), and the process's peak RSS,
 * code and libraries included (about 170 MiB before the first line), under 400 MiB.
 */
const heapLimitMiB = 96;
const peakRssBound = 400 * 1024 * 1024;

describe.skipIf(!databaseUrl)("a million-line statement in bounded memory", () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  let folder: Awaited<ReturnType<typeof statementFolder>>;
  beforeAll(async () => {
    db = await openTestPostgres();
    folder = await statementFolder();
    await plantScaleInstances(db, lines);
    await writeScaleStatement(join(folder.dir, "statement.csv"), lines);
  }, 600_000);
  afterAll(async () => {
    await db?.drop();
    await folder?.remove();
  });

  it(`reconciles ${lines} lines with ${heapLimitMiB} MiB of heap and a peak RSS under ${peakRssBound / 2 ** 20} MiB`, async () => {
    const report = await reconcileInChild({
      databaseUrl: databaseUrl!,
      schema: db.schema,
      file: join(folder.dir, "statement.csv"),
    });
    const offByOneFen = Math.floor((lines - 1) / 100_000);
    expect(report.lines).toBe(lines - 1);
    expect(report.counts).toMatchObject({
      matched: lines - 1 - offByOneFen,
      "amount-mismatch": offByOneFen,
      "missing-funder": 1,
      "missing-ours": 0,
      "duplicate-line": 0,
    });
    console.log(
      `reconciled ${report.lines} lines in ${report.seconds.toFixed(1)} s: peak RSS ${(report.peakRss / 2 ** 20).toFixed(0)} MiB (${(report.baselineRss / 2 ** 20).toFixed(0)} MiB before the first line), peak heap ${(report.peakHeap / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(report.peakRss).toBeLessThan(peakRssBound);
  }, 900_000);
});
