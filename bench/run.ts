/**
 * `pnpm bench [filter]`: runs every `packages/<pkg>/bench/*.bench.ts` and `examples/<ex>/bench/*.bench.ts`,
 * prints one table per file and writes all results to `.bench-results/latest.json`.
 *
 * A bench file default-exports a function returning a configured tinybench `Bench`; put the
 * baseline (the bare primitive) next to the measured path in the same Bench so they are compared
 * side by side in one run. Optional `comparisons` name ratios to report (measured / baseline).
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Bench } from "tinybench";

export interface BenchComparison {
  /** Task name of the measured path. */
  measured: string;
  /** Task name of the baseline it is compared with. */
  baseline: string;
  /** The target, as a ratio measured/baseline in operations per second (e.g. 0.5 = at least half). */
  atLeast?: number;
}

export interface BenchModule {
  default: () => Promise<Bench> | Bench;
  comparisons?: BenchComparison[];
  /** Extra lines to print and record, computed from the tasks' operations per second. */
  report?: (opsPerSecond: (task: string) => number) => string[];
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

async function findBenchFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const top of ["packages", "examples"]) {
    for (const entry of await readdir(join(root, top), { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const dir = join(root, top, entry.name, "bench");
      for (const file of await readdir(dir).catch(() => [] as string[])) {
        if (file.endsWith(".bench.ts")) files.push(join(dir, file));
      }
    }
  }
  return files.sort();
}

const filter = process.argv[2];
const results: Record<string, unknown>[] = [];
for (const file of await findBenchFiles()) {
  const name = relative(root, file);
  if (filter && !name.includes(filter)) continue;
  const mod = (await import(pathToFileURL(file).href)) as BenchModule;
  const bench = await mod.default();
  await bench.run();
  console.log(`\n${name}`);
  console.table(bench.table());
  const byName = new Map(bench.tasks.map((t) => [t.name, t]));
  const opsOf = (task: string) => {
    const r = byName.get(task)?.result;
    return r && "throughput" in r ? r.throughput.mean : Number.NaN;
  };
  for (const task of bench.tasks) {
    const r = task.result;
    if (!r || !("throughput" in r)) continue;
    results.push({
      file: name,
      task: task.name,
      opsPerSecond: r.throughput.mean,
      meanMs: r.latency.mean,
      p99Ms: r.latency.p99,
      samples: r.latency.samplesCount,
    });
  }
  for (const c of mod.comparisons ?? []) {
    const ratio = opsOf(c.measured) / opsOf(c.baseline);
    const verdict =
      c.atLeast === undefined ? "" : ratio >= c.atLeast ? "  (target met)" : "  (BELOW TARGET)";
    console.log(
      `  ${c.measured} / ${c.baseline} = ${ratio.toFixed(3)}${c.atLeast ? ` target >= ${c.atLeast}` : ""}${verdict}`,
    );
    results.push({
      file: name,
      comparison: `${c.measured} / ${c.baseline}`,
      ratio,
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
