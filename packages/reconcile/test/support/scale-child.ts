/**
 * Child process of the scale test and bench: reconciles one file (or matches it in memory, the
 * reference) and prints one JSON line with lines per second and peak memory.
 */
import { createReadStream } from "node:fs";
import { resourceUsage } from "node:process";
import { openPostgresStore } from "@capflow/store-knex";
import { parse } from "csv-parse";
import { parseAmount, runReconciliation } from "../../src/index.ts";
import { scaleDate, scaleStatement } from "./scale.ts";

const env = process.env;
/** What the process takes before reading a line: Node, the TypeScript loader, capflow's code. */
const baselineRss = process.memoryUsage().rss;
let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 20);

const db = openPostgresStore({
  connectionString: env.SCALE_DATABASE_URL!,
  schema: env.SCALE_SCHEMA!,
  statementTimeoutMs: 0,
});
const started = performance.now();
let lines = 0;
let counts: Record<string, number> = {};
try {
  if (env.SCALE_MODE === "in-memory") {
    const funder = new Map<string, { amount: bigint; status: string }>();
    for await (const record of createReadStream(env.SCALE_FILE!).pipe(
      parse({ from_line: 2 }),
    ) as AsyncIterable<string[]>) {
      funder.set(record[0]!, { amount: parseAmount(record[2]!, "yuan"), status: record[3]! });
      lines += 1;
    }
    const ours = await db.knex.raw(
      `SELECT business_key, input->>'amount' AS amount, status FROM "${env.SCALE_SCHEMA}"."instances" WHERE channel = 'scale'`,
    );
    counts = { matched: 0, "amount-mismatch": 0, "missing-funder": 0 };
    for (const row of ours.rows as { business_key: string; amount: string }[]) {
      const line = funder.get(row.business_key);
      if (line === undefined) counts["missing-funder"]! += 1;
      else if (line.amount !== parseAmount(row.amount, "yuan")) counts["amount-mismatch"]! += 1;
      else counts.matched! += 1;
    }
  } else {
    const { run } = await runReconciliation({
      db,
      statement: scaleStatement,
      businessDate: scaleDate,
      file: env.SCALE_FILE!,
    });
    lines = run.lineCount ?? 0;
    counts = run.counts ?? {};
  }
} finally {
  await db.close();
  clearInterval(sampler);
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({
    lines,
    seconds,
    linesPerSecond: lines / seconds,
    peakRss: resourceUsage().maxRSS * 1024,
    baselineRss,
    peakHeap,
    counts,
  })}\n`,
);
