/**
 * `pnpm bench dispatch`: the cost of dispatching a step that does nothing, on PostgreSQL. capflow's
 * worker drains instances of a behavior of one `decide` step (claim, in-process locks,
 * compare-and-set commit with its step log) next to graphile-worker draining no-op jobs, with its
 * defaults and with batching (a local queue and batched completions), in alternating rounds.
 * `--count N` jobs per run (default 2 000), `--rounds N` (default 3). Needs DATABASE_URL.
 */
import { randomUUID } from "node:crypto";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createEngine,
  ProcessorRegistry,
  Worker,
} from "@capflow/core";
import { openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import { makeWorkerUtils, run } from "graphile-worker";
import type { MeasuredBench } from "../run.ts";
import { positiveIntegerOption } from "../support/options.ts";
import { median } from "../support/statistics.ts";

const count = positiveIntegerOption("--count") ?? 2_000;
const rounds = positiveIntegerOption("--rounds") ?? 3;
const concurrency = 16;

const channel: ChannelDefinition = {
  code: "noop",
  name: "No-op",
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {},
};
const behavior: BehaviorDefinition = {
  channel: "noop",
  code: "noop",
  initial: "decide",
  steps: {
    decide: { kind: "decide", routes: [{ when: "input.n >= 0", to: "done" }], otherwise: "done" },
    done: { kind: "terminal", outcome: "succeeded" },
  },
};

export async function measure(): Promise<MeasuredBench> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    return { rows: [], results: [], lines: ["dispatch: skipped; set DATABASE_URL=postgres://…"] };
  }
  const id = randomUUID().slice(0, 8);
  const capflowSchema = `capflow_bench_dispatch_${id}`;
  const graphileSchema = `capflow_bench_graphile_${id}`;
  const db = openPostgresStore({
    connectionString: databaseUrl,
    schema: capflowSchema,
    pool: { max: concurrency + 2 },
  });
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, schema: graphileSchema });
  try {
    await db.migrate();
    await pushDefinitions(db, { channels: [channel], behaviors: [behavior] });
    await utils.migrate();
    let settled = 0;
    let onSettled = () => {};
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
      onEvent: (event) => {
        if (event.type === "instance.settled") {
          settled++;
          onSettled();
        }
      },
    });
    const capflowRun = async (tag: string) => {
      for (let i = 0; i < count; i += 200) {
        await Promise.all(
          Array.from({ length: Math.min(200, count - i) }, (_, j) =>
            engine.start({
              channel: "noop",
              behavior: "noop",
              businessKey: `${tag}-${i + j}`,
              input: { n: i + j },
            }),
          ),
        );
      }
      settled = 0;
      const started = performance.now();
      const worker = new Worker(engine, { slots: concurrency, inboxSweepMs: 0 });
      await new Promise<void>((resolve) => {
        onSettled = () => {
          if (settled >= count) resolve();
        };
        worker.start();
      });
      const elapsed = performance.now() - started;
      await worker.stop();
      return count / (elapsed / 1000);
    };
    const graphileRun = async (batched: boolean) => {
      await utils.addJobs(
        Array.from({ length: count }, (_, n) => ({ identifier: "noop", payload: { n } })),
      );
      let done = 0;
      const started = performance.now();
      const runner = await run({
        connectionString: databaseUrl,
        schema: graphileSchema,
        concurrency,
        noHandleSignals: true,
        pollInterval: 200,
        taskList: { noop: async () => {} },
        ...(batched
          ? {
              preset: {
                worker: {
                  localQueue: { size: concurrency + 1 },
                  completeJobBatchDelay: 0,
                  failJobBatchDelay: 0,
                },
              },
            }
          : {}),
      });
      await new Promise<void>((resolve) => {
        runner.events.on("job:success", () => {
          done++;
          if (done >= count) resolve();
        });
      });
      const elapsed = performance.now() - started;
      await runner.stop();
      return count / (elapsed / 1000);
    };
    const ours: number[] = [];
    const plain: number[] = [];
    const batched: number[] = [];
    await capflowRun("warm");
    for (let round = 0; round < rounds; round++) {
      ours.push(await capflowRun(`r${round}`));
      plain.push(await graphileRun(false));
      batched.push(await graphileRun(true));
    }
    await engine.close();
    const rows = [
      { runner: "capflow worker (1 decide step)", "steps/s": median(ours).toFixed(0) },
      { runner: "graphile-worker, defaults", "steps/s": median(plain).toFixed(0) },
      {
        runner: "graphile-worker, local queue + batched completions",
        "steps/s": median(batched).toFixed(0),
      },
    ];
    const vsPlain = median(ours.map((v, i) => v / (plain[i] ?? Number.NaN)));
    const vsBatched = median(ours.map((v, i) => v / (batched[i] ?? Number.NaN)));
    const lines = [
      `no-op step: capflow / graphile-worker defaults = ${vsPlain.toFixed(3)} (median of ${rounds} rounds)`,
      `no-op step: capflow / graphile-worker with batching = ${vsBatched.toFixed(3)} target >= 1${vsBatched >= 1 ? "  (target met)" : "  (BELOW TARGET)"}`,
    ];
    return {
      rows,
      lines,
      results: [
        {
          file: "bench/dispatch",
          comparison: "capflow / graphile-worker defaults",
          ratio: vsPlain,
        },
        {
          file: "bench/dispatch",
          comparison: "capflow / graphile-worker with batching",
          ratio: vsBatched,
          atLeast: 1,
        },
      ],
    };
  } finally {
    await db.knex.raw(`DROP SCHEMA IF EXISTS "${capflowSchema}" CASCADE`).catch(() => {});
    await db.knex.raw(`DROP SCHEMA IF EXISTS "${graphileSchema}" CASCADE`).catch(() => {});
    await db.close();
    await utils.release();
  }
}
