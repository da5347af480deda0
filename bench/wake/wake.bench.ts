/**
 * `pnpm bench wake`: how soon an idle worker makes a new instance's first partner call. One start
 * at a time, each after the worker has gone idle again (a random pause of 30–80 ms, so the start
 * lands anywhere in a polling interval); measured from `engine.start` being called to the
 * request arriving at a loopback funder in this process. Side by side in alternating rounds:
 * the worker woken by PostgreSQL's `LISTEN`/`NOTIFY` and the same worker polling alone (every
 * `idleMs`, 200 ms by default). The start's own commit, the claim, the lock and the intent commit
 * are in the figure: it is what a caller waits for the funder to hear of a loan.
 * `--count N` starts per round (default 40), `--rounds N` (default 2). Needs DATABASE_URL.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createEngine,
  ProcessorRegistry,
  Worker,
} from "@capflow/core";
import { openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import type { MeasuredBench } from "../run.ts";
import { positiveIntegerOption } from "../support/options.ts";
import { percentile } from "../support/statistics.ts";

const count = positiveIntegerOption("--count") ?? 40;
const rounds = positiveIntegerOption("--rounds") ?? 2;
/** The latency the issue of wake-ups set out to reach: p50 under this on an idle worker. */
const targetP50Ms = 10;

function channelFor(baseUrl: string): ChannelDefinition {
  return {
    code: "wake",
    name: "Wake-up bench",
    baseUrl,
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    interfaces: {
      apply: {
        method: "POST",
        path: "/apply",
        timeout: "5s",
        idempotent: true,
        statusTable: { code: "body.status", codes: { SUCCESS: { outcome: "succeeded" } } },
      },
    },
  } as ChannelDefinition;
}

const behavior = {
  channel: "wake",
  code: "apply",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "apply",
      request: { format: "json", body: { applyNo: "{{input.applyNo}}" } },
      routes: [{ when: 'outcome == "succeeded"', to: "done" }],
      otherwise: "done",
    },
    done: { kind: "terminal", outcome: "succeeded" },
  },
} as BehaviorDefinition;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function measure(): Promise<MeasuredBench> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    return { rows: [], results: [], lines: ["wake: skipped; set DATABASE_URL=postgres://…"] };
  }
  // The funder notes when each request arrives, by business number.
  const arrivals = new Map<string, (at: number) => void>();
  const funder = createServer((request, response) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const { applyNo } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        applyNo: string;
      };
      arrivals.get(applyNo)?.(at);
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ status: "SUCCESS", applyNo }));
    });
  });
  await new Promise<void>((resolve) => funder.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(funder.address() as AddressInfo).port}`;

  const schema = `capflow_bench_wake_${randomUUID().slice(0, 8)}`;
  const db = openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: 6 } });
  try {
    await db.migrate();
    await pushDefinitions(db, { channels: [channelFor(baseUrl)], behaviors: [behavior] });
    // Settled instances by id (a settle may be seen before `start` has returned the id).
    const settledIds = new Set<string>();
    let onSettled = () => {};
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
      onEvent: (event) => {
        if (event.type === "instance.settled") {
          settledIds.add(event.instanceId);
          onSettled();
        }
      },
    });

    const runRound = async (tag: string, wakeUps: boolean): Promise<number[]> => {
      const worker = new Worker(engine, {
        inboxSweepMs: 0,
        ...(wakeUps && db.wakeUps ? { wakeUps: db.wakeUps } : {}),
      });
      worker.start();
      const latencies: number[] = [];
      try {
        await pause(300); // the worker's first empty claim, and its listening connection
        for (let i = 0; i < count; i++) {
          const businessKey = `${tag}-${i}`;
          const arrived = new Promise<number>((resolve) => arrivals.set(businessKey, resolve));
          const startedAt = performance.now();
          const { id } = await engine.start({
            channel: "wake",
            behavior: "apply",
            businessKey,
            input: { applyNo: businessKey },
          });
          latencies.push((await arrived) - startedAt);
          while (!settledIds.has(id)) await new Promise<void>((resolve) => (onSettled = resolve));
          arrivals.delete(businessKey);
          await pause(30 + Math.random() * 50);
        }
      } finally {
        await worker.stop();
      }
      return latencies;
    };

    if (!db.wakeUps) throw new Error("wake: the PostgreSQL store offers no wake-ups");
    await runRound("warm", true);
    const woken: number[] = [];
    const polling: number[] = [];
    for (let round = 0; round < rounds; round++) {
      woken.push(...(await runRound(`listen-${round}`, true)));
      polling.push(...(await runRound(`poll-${round}`, false)));
    }
    await engine.close();

    const p50 = percentile(woken, 50);
    const rows = [
      {
        worker: "woken by LISTEN/NOTIFY",
        "p50 ms": p50.toFixed(1),
        "p99 ms": percentile(woken, 99).toFixed(1),
      },
      {
        worker: "polling every 200 ms",
        "p50 ms": percentile(polling, 50).toFixed(1),
        "p99 ms": percentile(polling, 99).toFixed(1),
      },
    ];
    const ratio = p50 / percentile(polling, 50);
    return {
      rows,
      lines: [
        `start → first partner call on an idle worker: p50 ${p50.toFixed(1)} ms woken, ${percentile(polling, 50).toFixed(1)} ms polling (${ratio.toFixed(3)}x); target p50 < ${targetP50Ms} ms${p50 < targetP50Ms ? "  (target met)" : "  (ABOVE TARGET)"}`,
      ],
      results: [
        {
          file: "bench/wake",
          comparison: "start to first partner call, woken / polling (p50)",
          ratio,
          wokenP50Ms: p50,
          wokenP99Ms: percentile(woken, 99),
          pollingP50Ms: percentile(polling, 50),
          pollingP99Ms: percentile(polling, 99),
          targetP50Ms,
          samples: woken.length,
        },
      ],
    };
  } finally {
    await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await db.close();
    funder.close();
  }
}
