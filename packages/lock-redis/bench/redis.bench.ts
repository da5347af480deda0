/**
 * Lock and limiter round trips next to the bare Redis commands they are built on. Uses REDIS_URL,
 * or a local Redis at redis://127.0.0.1:6379. Each baseline runs just before what it is compared
 * with, so drifting machine load affects both alike. Both sides are two round trips. The lock
 * scripts are single commands; the limiter script runs TIME and five sorted-set commands, measured
 * at 30–40 µs inside Redis on a loaded 2-core machine (`INFO commandstats`), against a loopback
 * round trip of ~150 µs: hence the lower target for the limiter.
 */
import { FlowControl } from "@capflow/core";
import { Bench } from "tinybench";
import { openRedis } from "../src/index.ts";

const lockTask = "lock acquire+release (redlock)";
const rawLockTask = "SET NX PX + DEL (baseline)";
const limiterTask = "limiter acquire+release, concurrency (Lua)";
const limiterRateTask = "limiter acquire+release, concurrency+rate (Lua)";
const rawScriptTask = "EVALSHA return 1 + ZREM (baseline)";
const flowTask = "FlowControl enter+complete (Redis limiter)";

export const comparisons = [
  { measured: lockTask, baseline: rawLockTask, atLeast: 0.5 },
  { measured: limiterTask, baseline: rawScriptTask, atLeast: 0.4 },
  { measured: limiterRateTask, baseline: rawScriptTask },
  { measured: flowTask, baseline: rawScriptTask },
];

export default async function redisBench(): Promise<Bench> {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const bench = new Bench({ time: 1_000 });
  const keyPrefix = `capflow-bench:${process.pid}:`;
  const redis = await openRedis({ url, keyPrefix, connectTimeoutMs: 2_000 }).catch(
    (error: unknown) => {
      console.log(`redis.bench: skipped, no Redis at ${url} (${(error as Error).message})`);
      return undefined;
    },
  );
  if (!redis) return bench;
  const { client, locks, limiter } = redis;
  const flow = new FlowControl({ limiter });
  client.defineCommand("capflowBenchNoop", { numberOfKeys: 0, lua: "return 1" });
  const noop = (
    client as unknown as { capflowBenchNoop: () => Promise<number> }
  ).capflowBenchNoop.bind(client);
  let n = 0;

  bench.add(rawLockTask, async () => {
    const key = `${keyPrefix}raw:${n++ % 64}`;
    await client.set(key, "v", "PX", 10_000, "NX");
    await client.del(key);
  });
  bench.add(lockTask, async () => {
    const lock = await locks.acquire(`bench:${n++ % 64}`, { ttlMs: 10_000 });
    await lock.release();
  });
  bench.add(rawScriptTask, async () => {
    await noop();
    await client.zrem(`${keyPrefix}raw-permits`, "token");
  });
  bench.add(limiterTask, async () => {
    const decision = await limiter.acquire("acme:loan.apply", { concurrency: 1_000 });
    if (!decision.granted) throw new Error("refused");
    await decision.permit.release();
  });
  bench.add(limiterRateTask, async () => {
    const decision = await limiter.acquire("acme:loan.query", {
      concurrency: 1_000,
      rate: { limit: 1_000_000, windowMs: 1_000 },
    });
    if (!decision.granted) throw new Error("refused");
    await decision.permit.release();
  });
  bench.add(flowTask, async () => {
    const entry = await flow.enter({
      channel: "acme",
      interface: "loan.apply",
      limits: { concurrency: 1_000 },
      bulkhead: 16,
    });
    if (!entry.admitted) throw new Error(entry.reason);
    await entry.ticket.complete("success");
  });

  bench.addEventListener("complete", () => {
    void (async () => {
      const keys = await client.keys(`${keyPrefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await redis.close();
    })();
  });
  return bench;
}
