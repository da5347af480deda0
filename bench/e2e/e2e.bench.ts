/**
 * `pnpm bench e2e`: a full step through capflow's worker on PostgreSQL and Redis next to the
 * hand-written reference pipeline (reference-pipeline.ts) doing the same work against the same
 * loopback funder (funder.ts, its own process), in alternating rounds (capflow, reference,
 * capflow, reference …), once with the RSA envelope and once with crypto off.
 *
 * Per run: N due instances (jobs) are stored first (not timed), then the pipeline drains them.
 * Reported per pipeline, median of the rounds: steps per second, Node CPU per step (this process;
 * the funder runs in its own), bytes of WAL PostgreSQL wrote per step (`pg_current_wal_lsn()`
 * before and after: the whole server's WAL, so other work on the machine inflates both sides), and
 * the p99 of one step's time from its lock to its commit. Ratios are capflow / reference.
 *
 * Options after the filter: `--count N` instances per run (default 200), `--rounds N` (default 3),
 * `--full` (1 000 instances, 5 rounds), `--crypto rsa|off` (only that variant), `--warmup N`
 * instances per pipeline before the measured rounds (default 32: connections, keys, templates; a
 * few hundred let V8 optimise the hot code first, as in a worker that has been running a while).
 * Needs DATABASE_URL and REDIS_URL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import { Redis } from "ioredis";
import pg from "pg";
import type { MeasuredBench } from "../run.ts";
import { CapflowPipeline, plainChannel, sealedChannel } from "./capflow-pipeline.ts";
import { ReferencePipeline } from "./reference-pipeline.ts";
import { inputFor } from "./work.ts";

interface RunResult {
  stepsPerSecond: number;
  cpuUsPerStep: number;
  walBytesPerStep: number;
  latenciesMs: number[];
}

function argument(name: string): number | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} takes a positive integer`);
  return value;
}

const full = process.argv.includes("--full");
const count = argument("--count") ?? (full ? 1_000 : 200);
const rounds = argument("--rounds") ?? (full ? 5 : 3);
const warmup = argument("--warmup") ?? 32;
const cryptoChoice = process.argv[process.argv.indexOf("--crypto") + 1];
const variants = !process.argv.includes("--crypto")
  ? [true, false]
  : cryptoChoice === "rsa"
    ? [true]
    : cryptoChoice === "off"
      ? [false]
      : [];
if (variants.length === 0) throw new Error("--crypto takes rsa or off");
/** Both pipelines: two loops, each claiming 16 at a time (capflow's worker defaults). */
const loops = 2;
const batchSize = 16;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

async function startFunder(): Promise<{ origin: string; process: ChildProcess }> {
  const file = fileURLToPath(new URL("./funder.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const match = /listening (\d+)/.exec(text);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`the bench funder exited (${code})`)));
  });
  return { origin: `http://127.0.0.1:${port}`, process: child };
}

async function measureRun(
  wal: pg.Pool,
  drain: () => Promise<number[]>,
  steps: number,
): Promise<RunResult> {
  const walBefore = (await wal.query<{ lsn: string }>("SELECT pg_current_wal_lsn() AS lsn")).rows[0]
    ?.lsn;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const latenciesMs = await drain();
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const walBytes = (
    await wal.query<{ bytes: string }>(
      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes",
      [walBefore],
    )
  ).rows[0]?.bytes;
  return {
    stepsPerSecond: steps / (elapsedMs / 1000),
    cpuUsPerStep: (cpu.user + cpu.system) / steps,
    walBytesPerStep: Number(walBytes) / steps,
    latenciesMs,
  };
}

export async function measure(): Promise<MeasuredBench> {
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) {
    return {
      rows: [],
      results: [],
      lines: [
        "e2e: skipped; set DATABASE_URL=postgres://… and REDIS_URL=redis://… to run the end-to-end bench",
      ],
    };
  }
  const funder = await startFunder();
  const id = randomUUID().slice(0, 8);
  const wal = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  let capflowRedis: CapflowRedis | undefined;
  let referenceRedis: Redis | undefined;
  let capflow: CapflowPipeline | undefined;
  const references: ReferencePipeline[] = [];
  try {
    capflowRedis = await openRedis({ url: redisUrl, keyPrefix: `capflow-bench-${id}:` });
    referenceRedis = new Redis(redisUrl, { keyPrefix: `reference-bench-${id}:` });
    capflow = await CapflowPipeline.open({
      databaseUrl,
      redis: capflowRedis,
      schema: `capflow_bench_e2e_${id}`,
      funderOrigin: funder.origin,
      worker: { concurrency: loops, batchSize },
      poolSize: loops * batchSize + 4,
    });
    const rows: Record<string, unknown>[] = [];
    const results: Record<string, unknown>[] = [];
    const lines: string[] = [];
    for (const sealed of variants) {
      const mode = sealed ? "RSA envelope" : "crypto off";
      const reference = new ReferencePipeline({
        databaseUrl,
        redis: referenceRedis,
        schema: `capflow_bench_ref_${id}_${sealed ? "sealed" : "plain"}`,
        funderOrigin: funder.origin,
        sealed,
        loops,
        batchSize,
      });
      references.push(reference);
      await reference.createTables();
      const channel = sealed ? sealedChannel : plainChannel;
      const pipeline = capflow;
      const runCapflow = async (tag: string, n: number) => {
        await pipeline.enqueue(
          channel,
          Array.from({ length: n }, (_, i) => inputFor(`C${tag}-${i}`)),
        );
        return measureRun(
          wal,
          async () => {
            const since = new Date();
            await pipeline.drain(n);
            return capflowLatencies(pipeline, channel, since);
          },
          n,
        );
      };
      const runReference = async (tag: string, n: number) => {
        await reference.enqueue(Array.from({ length: n }, (_, i) => inputFor(`R${tag}-${i}`)));
        return measureRun(wal, () => reference.drain(n), n);
      };
      // Warm-up: connections, keys, compiled templates, JIT.
      await runCapflow(`${mode}-warm`, warmup);
      await runReference(`${mode}-warm`, warmup);
      const capflowRuns: RunResult[] = [];
      const referenceRuns: RunResult[] = [];
      for (let round = 0; round < rounds; round++) {
        capflowRuns.push(await runCapflow(`${mode}-${round}`, count));
        referenceRuns.push(await runReference(`${mode}-${round}`, count));
      }
      const summary = (runs: RunResult[]) => ({
        stepsPerSecond: median(runs.map((r) => r.stepsPerSecond)),
        cpuUsPerStep: median(runs.map((r) => r.cpuUsPerStep)),
        walBytesPerStep: median(runs.map((r) => r.walBytesPerStep)),
        p99Ms: percentile(
          runs.flatMap((r) => r.latenciesMs),
          99,
        ),
      });
      const ours = summary(capflowRuns);
      const theirs = summary(referenceRuns);
      for (const [pipelineName, s] of [
        ["capflow worker", ours],
        ["reference pipeline", theirs],
      ] as const) {
        rows.push({
          mode,
          pipeline: pipelineName,
          "steps/s": s.stepsPerSecond.toFixed(1),
          "CPU µs/step": s.cpuUsPerStep.toFixed(0),
          "WAL bytes/step": s.walBytesPerStep.toFixed(0),
          "p99 ms": s.p99Ms.toFixed(1),
        });
        results.push({ file: "bench/e2e", mode, pipeline: pipelineName, ...s });
      }
      const throughputRatios = capflowRuns.map(
        (r, i) => r.stepsPerSecond / (referenceRuns[i]?.stepsPerSecond ?? Number.NaN),
      );
      const ratio = median(throughputRatios);
      const ratios = {
        throughput: ratio,
        cpuPerStep: ours.cpuUsPerStep / theirs.cpuUsPerStep,
        walBytesPerStep: ours.walBytesPerStep / theirs.walBytesPerStep,
        p99: ours.p99Ms / theirs.p99Ms,
      };
      lines.push(
        `${mode}: capflow / reference steps per second = ${ratio.toFixed(3)} (median of ${rounds} rounds, ${Math.min(...throughputRatios).toFixed(3)}–${Math.max(...throughputRatios).toFixed(3)}) target >= 1.25${ratio >= 1.25 ? "  (target met)" : "  (BELOW TARGET)"}`,
        `${mode}: CPU per step ${ratios.cpuPerStep.toFixed(2)}x, WAL bytes per step ${ratios.walBytesPerStep.toFixed(2)}x (target <= 2), p99 step latency ${ratios.p99.toFixed(2)}x (target <= 1)`,
      );
      results.push({
        file: "bench/e2e",
        comparison: `capflow worker / reference pipeline (${mode})`,
        ratio,
        ratios: throughputRatios,
        atLeast: 1.25,
        cpuPerStepRatio: ratios.cpuPerStep,
        walBytesPerStepRatio: ratios.walBytesPerStep,
        p99Ratio: ratios.p99,
        count,
        rounds,
      });
    }
    return { rows, results, lines };
  } finally {
    for (const reference of references) await reference.close().catch(() => {});
    await capflow?.close().catch(() => {});
    await capflowRedis?.close().catch(() => {});
    referenceRedis?.disconnect();
    await wal.end();
    funder.process.kill("SIGTERM");
  }
}

/** Each settled instance's call step, from its start to its commit, from the step log. */
async function capflowLatencies(
  pipeline: CapflowPipeline,
  channel: string,
  since: Date,
): Promise<number[]> {
  const rows = (await pipeline.db.knex.raw(
    `SELECT l.duration_ms FROM step_logs l JOIN instances i ON i.id = l.instance_id
     WHERE i.channel = ? AND l.to_status IN ('succeeded', 'failed') AND l.started_at >= ?`,
    [channel, since],
  )) as { rows: { duration_ms: number }[] };
  return rows.rows.map((row) => Number(row.duration_ms));
}
