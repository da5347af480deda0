import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { StatementDefinition } from "../../src/index.ts";

const run = promisify(execFile);
const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const childScript = fileURLToPath(new URL("./scale-child.ts", import.meta.url));

/** The statement of the scale runs: a plain CSV, keys `L00000001…`, amounts in yuan. */
export const scaleStatement: StatementDefinition = {
  channel: "scale",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "unused" },
  format: { kind: "delimited" },
  columns: {
    businessKey: "outOrderNo",
    partnerReference: "loanNo",
    amount: "amount",
    status: "status",
  },
  statuses: { SUCCESS: "succeeded" },
  ours: { partnerReference: "context.bankLoanNo" },
};

export const scaleDate = "2026-12-05";

const key = (n: number) => `L${String(n).padStart(8, "0")}`;
const amount = (n: number) => `${n % 100000}.${String(n % 100).padStart(2, "0")}`;

/** `count` settled loans of the scale channel on the scale date, in one statement. */
export async function plantScaleInstances(
  db: Pick<CapflowDatabase, "knex" | "schema">,
  count: number,
): Promise<void> {
  // In slices: one statement for a million rows can outlast the store's statement_timeout on a
  // busy machine, and the pool's timeout is meant for the hot path, not for planting test data.
  const slice = 100_000;
  for (let first = 1; first <= count; first += slice) {
    await db.knex.raw(
      `INSERT INTO "${db.schema}"."instances" (id, channel, behavior, behavior_version, business_key,
         input, input_digest, step, status, context, snapshot, created_at, updated_at)
       SELECT 'scale-' || g, 'scale', 'loan', 1, 'L' || lpad(g::text, 8, '0'),
         jsonb_build_object('amount', (g % 100000)::text || '.' || lpad((g % 100)::text, 2, '0')),
         'digest', 'done', 'succeeded', jsonb_build_object('bankLoanNo', 'B' || g), '{}'::jsonb,
         timestamptz '2026-12-05 12:00:00+08', timestamptz '2026-12-05 12:00:00+08'
       FROM generate_series(?::int, ?::int) AS g`,
      [first, Math.min(count, first + slice - 1)],
    );
  }
  // As autovacuum would have done long before a statement arrives.
  await db.knex.raw(`ANALYZE "${db.schema}"."instances"`);
}

/**
 * Writes the statement of `count` lines matching the planted loans, except: every 100,000th line
 * is one fen off, and the last loan is left out (missing on the funder's side).
 */
export async function writeScaleStatement(path: string, count: number): Promise<void> {
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  const write = (text: string) =>
    out.write(text)
      ? Promise.resolve()
      : new Promise<void>((resolve) => out.once("drain", () => resolve()));
  await write("outOrderNo,loanNo,amount,status\n");
  let chunk = "";
  for (let n = 1; n < count; n++) {
    const value =
      n % 100_000 === 0 ? `${n % 100000}.${String((n % 100) + 1).padStart(2, "0")}` : amount(n);
    chunk += `${key(n)},B${n},${value},SUCCESS\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = "";
    }
  }
  await write(chunk);
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

export interface ScaleRunReport {
  lines: number;
  seconds: number;
  linesPerSecond: number;
  /** Peak resident set size of the child process (getrusage), bytes. */
  peakRss: number;
  /** Resident set size once the code is loaded, before the first line, bytes. */
  baselineRss: number;
  /** Highest V8 heap in use seen while it ran (sampled every 20 ms), bytes. */
  peakHeap: number;
  counts: Record<string, number>;
}

/**
 * Reconciles the file in a child process of its own (so its peak memory is the run's alone) and
 * returns what it measured. `mode: "in-memory"` is the reference: the same file read into a Map
 * and matched against every instance loaded into another, as a hand-written job would.
 */
export async function reconcileInChild(options: {
  databaseUrl: string;
  schema: string;
  file: string;
  mode?: "reconcile" | "in-memory";
  /** V8's old-space limit for the child (`--max-old-space-size`), MiB: a run that needed more dies. */
  heapLimitMiB?: number;
}): Promise<ScaleRunReport> {
  const heap =
    options.heapLimitMiB === undefined ? [] : [`--max-old-space-size=${options.heapLimitMiB}`];
  const { stdout } = await run(
    process.execPath,
    [...heap, "--import", "tsx", "--conditions=@capflow/source", childScript],
    {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        SCALE_DATABASE_URL: options.databaseUrl,
        SCALE_SCHEMA: options.schema,
        SCALE_FILE: options.file,
        SCALE_MODE: options.mode ?? "reconcile",
      },
      maxBuffer: 1 << 20,
      timeout: 15 * 60_000,
    },
  );
  return JSON.parse(stdout.trim().split("\n").pop()!) as ScaleRunReport;
}
