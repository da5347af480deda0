import { randomUUID } from "node:crypto";
import { createEngine, type Engine, ProcessorRegistry } from "@capflow/core";
import { Bench } from "tinybench";
import {
  routingBehavior as behavior,
  routingChannel as channel,
  routingFunders as funders,
  routingProduct as product,
} from "../../core/bench/support/routing-funders.ts";
import {
  type CapflowDatabase,
  openPgliteStore,
  openPostgresStore,
  pushDefinitions,
} from "../src/index.ts";

/**
 * Channel selection cost per start on the real store: `engine.start({ product })` over three
 * funders (eligibility CEL, health, the product's routing counter drawn in PostgreSQL, a daily and
 * a total quota reserved in the statement that creates the instance) next to
 * `engine.start({ channel, behavior })`, which routes nothing, on the same database. Core's
 * routing bench measures the same on the memory store, without the database's part.
 *
 * Without DATABASE_URL, measured on in-memory PGlite.
 */
const databaseUrl = process.env.DATABASE_URL;
const routedTask = "store: start a product (routed, quotas reserved)";
const directTask = "store: start on a channel";

export const comparisons = [{ measured: routedTask, baseline: directTask }];

/** Commits wait on fsync, whose speed drifts: three rounds, the median of their ratios. */
export const rounds = 3;

export const report = (opsPerSecond: (task: string) => number): string[] => {
  const routedUs = 1e6 / opsPerSecond(routedTask);
  const directUs = 1e6 / opsPerSecond(directTask);
  return [
    `channel selection: ${(routedUs - directUs).toFixed(0)} µs per start on ${databaseUrl ? "PostgreSQL" : "PGlite"} (${routedUs.toFixed(0)} µs routed, ${directUs.toFixed(0)} µs direct)`,
  ];
};

let cleanup: (() => Promise<void>) | undefined;

export async function teardown(): Promise<void> {
  await cleanup?.();
}

export default async function routingStoreBench(): Promise<Bench> {
  const schema = `capflow_bench_${randomUUID().slice(0, 8)}`;
  const db: CapflowDatabase = databaseUrl
    ? openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: 4 } })
    : await openPgliteStore();
  await db.migrate();
  await pushDefinitions(db, {
    channels: funders.map(channel),
    behaviors: funders.map(behavior),
    products: [product],
  });
  const engine: Engine = createEngine({
    store: db.instances,
    definitions: db.definitions,
    processors: new ProcessorRegistry(),
  });
  cleanup = async () => {
    await engine.close();
    if (databaseUrl) await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  };
  let n = 0;
  const bench = new Bench({ time: 1_000, warmupTime: 200 });
  bench.add(routedTask, async () => {
    n++;
    await engine.start({
      product: "cash-loan",
      businessKey: `P${n}`,
      input: { loanNo: `P${n}`, amount: "1000.00" },
    });
  });
  bench.add(directTask, async () => {
    n++;
    await engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: `C${n}`,
      input: { loanNo: `C${n}`, amount: "1000.00" },
    });
  });
  return bench;
}
