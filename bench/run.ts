/**
 * `pnpm bench [filter] [options]`: runs every `packages/<pkg>/bench/*.bench.ts`,
 * `examples/<ex>/bench/*.bench.ts` and `bench/<folder>/*.bench.ts` (end-to-end benches such as
 * `bench/e2e`), prints one table per file and writes all results to `.bench-results/latest.json`.
 * Options after the filter are the bench files' own (e.g. `pnpm bench e2e --full`).
 *
 * A bench file default-exports a function returning a configured tinybench `Bench`; put the
 * baseline (the bare primitive) next to the measured path in the same Bench so they are compared
 * side by side in one run. Optional `comparisons` name ratios to report (measured / baseline).
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Bench, Task } from "tinybench";
import { median } from "./support/statistics.ts";

export interface BenchComparison {
  /** Task name of the measured path. */
  measured: string;
  /** Task name of the baseline it is compared with. */
  baseline: string;
  /** The target, as a ratio measured/baseline in operations per second (e.g. 0.5 = at least half). */
  atLeast?: number;
}

/** What a bench that measures on its own (not with tinybench) reports. */
export interface MeasuredBench {
  /** Printed as one table. */
  rows: Record<string, unknown>[];
  /** Recorded in `.bench-results/latest.json`. */
  results: Record<string, unknown>[];
  /** Printed (ratios and verdicts) and recorded. */
  lines: string[];
}

export interface BenchModule {
  /** A tinybench Bench; or `measure` for benches that time whole runs themselves. */
  default?: () => Promise<Bench> | Bench;
  measure?: () => Promise<MeasuredBench>;
  comparisons?: BenchComparison[];
  /**
   * Runs of the whole Bench, one after the other (default 1). A comparison then reports the
   * median of its per-run ratios: on a shared machine the speed drifts over seconds, and two tasks
   * measured in the same run drift together, while two runs apart do not.
   */
  rounds?: number;
  /** Called once after the last round: drop what the Bench set up (schemas, pools). */
  teardown?: () => Promise<void>;
  /** Extra lines to print and record, computed from the tasks' operations per second. */
  report?: (opsPerSecond: (task: string) => number) => string[];
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

async function findBenchFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const [top, inner] of [
    ["packages", "bench"],
    ["examples", "bench"],
    ["bench", ""],
  ] as const) {
    for (const entry of await readdir(join(root, top), { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const dir = join(root, top, entry.name, inner);
      for (const file of await readdir(dir).catch(() => [] as string[])) {
        if (file.endsWith(".bench.ts")) files.push(join(dir, file));
      }
    }
  }
  return files.sort();
}

function throughputOf(task: Task): number {
  const r = task.result;
  return r && "throughput" in r ? r.throughput.mean : Number.NaN;
}

const filter = process.argv[2]?.startsWith("--") ? undefined : process.argv[2];
const results: Record<string, unknown>[] = [];
for (const file of await findBenchFiles()) {
  const name = relative(root, file);
  if (filter && !name.includes(filter)) continue;
  const mod = (await import(pathToFileURL(file).href)) as BenchModule;
  if (mod.measure) {
    const measured = await mod.measure();
    console.log(`\n${name}`);
    if (measured.rows.length > 0) console.table(measured.rows);
    for (const line of measured.lines) console.log(`  ${line}`);
    results.push(
      ...measured.results,
      ...measured.lines.map((line) => ({ file: name, report: line })),
    );
    continue;
  }
  if (!mod.default) continue;
  const bench = await mod.default();
  const rounds = mod.rounds ?? 1;
  const opsByRound: Map<string, number>[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round > 0) bench.reset();
    await bench.run();
    opsByRound.push(new Map(bench.tasks.map((task) => [task.name, throughputOf(task)])));
  }
  await mod.teardown?.();
  console.log(`\n${name}${rounds > 1 ? ` (table: the last of ${rounds} rounds)` : ""}`);
  console.table(bench.table());
  const opsOf = (task: string) => median(opsByRound.map((ops) => ops.get(task) ?? Number.NaN));
  for (const task of bench.tasks) {
    const r = task.result;
    if (!r || !("throughput" in r)) continue;
    results.push({
      file: name,
      task: task.name,
      opsPerSecond: opsOf(task.name),
      meanMs: r.latency.mean,
      p99Ms: r.latency.p99,
      samples: r.latency.samplesCount,
    });
  }
  for (const c of mod.comparisons ?? []) {
    const ratios = opsByRound.map(
      (ops) => (ops.get(c.measured) ?? Number.NaN) / (ops.get(c.baseline) ?? Number.NaN),
    );
    const ratio = median(ratios);
    const spread =
      rounds > 1
        ? ` (median of ${rounds} rounds, ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`
        : "";
    const verdict =
      c.atLeast === undefined ? "" : ratio >= c.atLeast ? "  (target met)" : "  (BELOW TARGET)";
    console.log(
      `  ${c.measured} / ${c.baseline} = ${ratio.toFixed(3)}${spread}${c.atLeast ? ` target >= ${c.atLeast}` : ""}${verdict}`,
    );
    results.push({
      file: name,
      comparison: `${c.measured} / ${c.baseline}`,
      ratio,
      ...(rounds > 1 ? { ratios } : {}),
      atLeast: c.atLeast,
    });
  }
  for (const line of mod.report?.(opsOf) ?? []) {
    console.log(`  ${line}`);
    results.push({ file: name, report: line });
  }
}
const outDir = join(root, ".bench-results");
await mkdir(outDir, { recursive: true });
const payload = JSON.stringify(
  { at: new Date().toISOString(), node: process.version, results },
  null,
  2,
);
await writeFile(join(outDir, "latest.json"), payload);
console.log(`\nresults written to ${relative(process.cwd(), join(outDir, "latest.json"))}`);
