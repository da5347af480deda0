import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  Engine,
  FlowControl,
  MemoryDefinitionSource,
  MemoryInstanceStore,
  ProcessorRegistry,
  Worker,
} from "@capflow/core";
import { afterEach, expect, test } from "vitest";
import { type CapflowRedis, openRedis } from "../src/index.ts";
import { DisposableRedisServer } from "./support/redis-server.ts";
import { describeWithRedis, uniquePrefix } from "./support/redis-url.ts";

/**
 * Three engines (workers) share one store, Redis locks and a Redis limit of 5 concurrent calls,
 * and Redis dies in the middle of the run. Nothing may be lost or done twice: every loan settles,
 * the partner sees each disbursement once, and each instance commits each step once.
 */
function channel(baseUrl: string): ChannelDefinition {
  return {
    code: "lanbank",
    name: "Lan Bank",
    baseUrl,
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    interfaces: {
      "loan.apply": { method: "POST", path: "/loan/apply", concurrency: 5, timeout: "5s" },
      "loan.query": { method: "POST", path: "/loan/query", idempotent: true },
    },
    statusTable: {
      code: "body.status",
      codes: { SUCCESS: { outcome: "succeeded" }, FAIL: { outcome: "failed" } },
    },
  };
}

const behavior: BehaviorDefinition = {
  channel: "lanbank",
  code: "loan",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "loan.apply",
      request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
      routes: [{ when: "outcome == 'succeeded'", to: "disbursed" }],
      otherwise: "failed",
      onUnknownOutcome: "query",
      retry: { schedule: ["200ms", "200ms", "500ms", "1s", "1s", "2s", "2s"], on: ["notSent"] },
    },
    query: {
      kind: "poll",
      interface: "loan.query",
      request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
      schedule: ["200ms", "1s", "2s"],
      routes: [{ when: "outcome == 'succeeded'", to: "disbursed" }],
      onExhausted: "manual",
    },
    disbursed: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
    manual: { kind: "terminal", outcome: "manual" },
  },
};

/** A partner that books each loan and answers after a short delay, counting what arrives. */
async function startPartner(): Promise<{
  server: Server;
  url: string;
  applies: Map<string, number>;
}> {
  const applies = new Map<string, number>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      const { loanNo } = JSON.parse(body) as { loanNo: string };
      if (req.url === "/loan/apply") applies.set(loanNo, (applies.get(loanNo) ?? 0) + 1);
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "SUCCESS", loanNo }));
      }, 50);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, applies };
}

describeWithRedis("engines on Redis locks and limits", () => {
  let redisServer: DisposableRedisServer | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    await redisServer?.kill();
  });

  test("Redis restarted mid-run: no instance lost, no disbursement sent twice, no step committed twice", async () => {
    redisServer = await DisposableRedisServer.start();
    const partner = await startPartner();
    cleanups.push(() => new Promise((resolve) => partner.server.close(resolve)));

    const store = new MemoryInstanceStore();
    const definitions = new MemoryDefinitionSource({
      channels: [channel(partner.url)],
      behaviors: [behavior],
    });
    const prefix = uniquePrefix();
    const engines: Engine[] = [];
    const workers: Worker[] = [];
    for (let i = 0; i < 3; i++) {
      const redis: CapflowRedis = await openRedis({ url: redisServer.url, keyPrefix: prefix });
      cleanups.push(() => redis.close());
      const engine = new Engine({
        store,
        definitions,
        processors: new ProcessorRegistry(),
        locks: redis.locks,
        flowControl: new FlowControl({ limiter: redis.limiter, unavailableRetryAfterMs: 200 }),
        workerId: `w${i}`,
        leaseMs: 5_000,
        lockTtlMs: 3_000,
      });
      cleanups.push(() => engine.close());
      engines.push(engine);
      const worker = new Worker(engine, { batchSize: 4, concurrency: 2, idleMs: 20 }).start();
      cleanups.push(() => worker.stop());
      workers.push(worker);
    }

    const loans = Array.from({ length: 90 }, (_, i) => `L-${i}`);
    for (const loanNo of loans) {
      await engines[0]!.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: loanNo,
        input: { loanNo },
      });
    }

    // Let some loans through, then take Redis away for a while, then bring it back.
    await expect.poll(() => partner.applies.size, { interval: 10 }).toBeGreaterThanOrEqual(20);
    const pendingAtOutage = (await store.listInstances({ status: ["active", "waiting"] })).length;
    await redisServer.kill();
    await delay(1_500);
    await redisServer.start();

    await expect
      .poll(async () => (await store.listInstances({ status: ["active", "waiting"] })).length, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(0);
    for (const worker of workers) await worker.stop();

    const instances = await store.listInstances({});
    // The outage hit work in progress: loans were still open when Redis died.
    expect(pendingAtOutage).toBeGreaterThan(30);
    expect(instances).toHaveLength(loans.length);
    expect(
      instances
        .filter((i) => i.status !== "succeeded")
        .map((i) => [i.businessKey, i.status, i.step]),
    ).toEqual([]);
    for (const loanNo of loans) expect(partner.applies.get(loanNo), loanNo).toBe(1);
    for (const instance of instances) {
      const history = await store.history(instance.id);
      // One intent and one answered call per loan; versions strictly increasing (each commit once).
      expect(history.filter((e) => e.event === "intent")).toHaveLength(1);
      expect(history.filter((e) => e.event === "call")).toHaveLength(1);
      const versions = history.map((e) => e.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);
    }
  }, 60_000);
});
