import { randomBytes } from "node:crypto";
import {
  type ChannelDefinition,
  createEngine,
  type Engine,
  FlowControl,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { flowRequestFor } from "@capflow/core/internal";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, issueOperatorToken } from "../src/index.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl, type OpsClient, opsClient } from "./support/test-server.ts";

const redisUrl = process.env.REDIS_URL;

/** Shop with two partner interfaces under shared limits. */
const bankChannel: ChannelDefinition = {
  ...shopChannel,
  code: "bank",
  name: "Bank",
  interfaces: {
    "loan.apply": {
      method: "POST",
      path: "/loan/apply",
      rate: { limit: 10, per: "1m" },
      breaker: { minimumCalls: 2, sampleSize: 2, failureRate: 0.5, cooldown: "10m" },
    },
    "loan.query": { method: "POST", path: "/loan/query", concurrency: 2, idempotent: true },
  },
  // A merchant id the funder limits on its own, whatever the interface.
  accounts: { m1: { concurrency: 3 }, m2: {} },
};

/** PostgreSQL's percentile_cont: linear interpolation between the closest ranks. */
function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = fraction * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

/**
 * The overview's partner health across a cluster: latency of the last hour's partner calls from
 * step logs in PostgreSQL, breakers reported by every node and the shared limiter's counts in
 * Redis, the outbox backlog; with the operator API's roles, and without Redis.
 */
describe.skipIf(!databaseUrl || !redisUrl)("overview: partner health (PostgreSQL, Redis)", () => {
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
  const keyPrefix = `capflow-test:${randomBytes(5).toString("hex")}:`;
  let db: CapflowDatabase;
  let redis: CapflowRedis;
  let engine: Engine;
  let app: FastifyInstance;
  let ops: OpsClient;
  let viewer: string;
  const applyDurations = [40, 85, 120, 160, 210, 260, 330, 420, 900, 2_400];
  const queryDurations = [15, 30];

  beforeAll(async () => {
    db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
    await db.migrate();
    redis = await openRedis({ url: redisUrl!, keyPrefix });
    await pushDefinitions(db, {
      channels: [shopChannel, bankChannel],
      behaviors: [orderBehavior, { ...orderBehavior, channel: "bank" }],
    });
    engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    const { id } = await engine.start({
      channel: "bank",
      behavior: "order",
      businessKey: "B-1",
      input: { mobile: "13800138000", name: "张三", amount: "100.00" },
    });
    // Step log entries through the store's commit, as the engine writes them after its calls.
    const now = Date.now();
    const entries: { interface?: string; durationMs: number; ago: number }[] = [
      ...applyDurations.map((durationMs) => ({ interface: "loan.apply", durationMs, ago: 60_000 })),
      ...queryDurations.map((durationMs) => ({ interface: "loan.query", durationMs, ago: 60_000 })),
      // Older than the hour, and an entry that is no call: neither counts.
      { interface: "loan.apply", durationMs: 99_000, ago: 2 * 3_600_000 },
      { durationMs: 77_000, ago: 60_000 },
    ];
    let version = (await db.instances.getInstance(id))!.version;
    for (const entry of entries) {
      const committed = await db.instances.commitTransition({
        instanceId: id,
        expectedVersion: version,
        now,
        changes: {},
        log: {
          step: "wait",
          attempt: 1,
          event: "poll",
          startedAt: now - entry.ago,
          durationMs: entry.durationMs,
          ...(entry.interface ? { interface: entry.interface } : {}),
        },
      });
      version = committed.version;
    }
    // The outbox: two pending (one failed once already), one given up, one delivered.
    const outbox = `"${schema}"."outbox"`;
    await db.knex.raw(
      `INSERT INTO ${outbox} (id, instance_id, type, payload, status, attempts, next_attempt_at, created_at)
       VALUES ('n1', ?, 'instance.settled', '{}', 'pending', 0, now(), now() - interval '5 minutes'),
              ('n2', ?, 'instance.settled', '{}', 'pending', 2, now(), now() - interval '1 minute'),
              ('n3', ?, 'instance.settled', '{}', 'failed', 8, NULL, now() - interval '1 hour'),
              ('n4', ?, 'instance.settled', '{}', 'delivered', 1, NULL, now() - interval '2 hours')`,
      [id, id, id, id],
    );

    // Node 1 opens loan.apply's breaker after two failures; node 2 fills loan.query's concurrency
    // and takes four of loan.apply's ten calls a minute.
    const node1 = new FlowControl({
      limiter: redis.limiter,
      breakerBoard: redis.breakers,
      node: "node-1",
    });
    for (let i = 0; i < 2; i++) {
      const entry = await node1.enter(flowRequestFor(bankChannel, "loan.apply"));
      if (entry.admitted) await entry.ticket.complete("failure");
    }
    expect(node1.breakerState("bank", "loan.apply")).toBe("open");
    const node2 = new FlowControl({
      limiter: redis.limiter,
      breakerBoard: redis.breakers,
      node: "node-2",
    });
    for (let i = 0; i < 2; i++) {
      expect((await node2.enter(flowRequestFor(bankChannel, "loan.query"))).admitted).toBe(true);
    }
    expect((await node2.enter(flowRequestFor(bankChannel, "loan.query"))).admitted).toBe(false);
    for (let i = 0; i < 1; i++) {
      const entry = await node2.enter(flowRequestFor(bankChannel, "loan.apply"));
      if (entry.admitted) await entry.ticket.complete("success");
    }
    // A call with account m1 in flight: one of the account's three permits, a fourth apply call.
    expect((await node2.enter(flowRequestFor(bankChannel, "loan.apply", "m1"))).admitted).toBe(
      true,
    );

    app = createServer({
      engine,
      store: db.instances,
      definitions: db.definitions,
      operators: { tokens: db.operatorTokens },
      flow: { limiter: redis.limiter, breakers: redis.breakers },
      log: false,
      console: false,
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    ops = opsClient(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    viewer = (
      await issueOperatorToken(db.operatorTokens, {
        name: "v",
        role: "viewer",
        reason: "test viewer",
      })
    ).token;
  });

  afterAll(async () => {
    await app?.close();
    await engine?.close();
    if (redis) {
      const keys = await redis.client.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.client.del(...keys);
      await redis.close();
    }
    await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
  });

  test("refuses a request without a valid token, answers a viewer", async () => {
    expect((await ops("GET", "/overview")).status).toBe(401);
    expect((await ops("GET", "/overview", { token: "cf_not-a-token" })).status).toBe(401);
    expect((await ops("GET", "/overview", { token: viewer })).status).toBe(200);
  });

  test("latency per channel interface over the last hour, from step logs", async () => {
    const { json } = await ops("GET", "/overview", { token: viewer });
    const byInterface = Object.fromEntries(
      json.partners.map((row: { channel: string; interface: string }) => [
        `${row.channel} ${row.interface}`,
        row,
      ]),
    );
    expect(Object.keys(byInterface)).toEqual(["bank loan.apply", "bank loan.query"]);
    expect(byInterface["bank loan.apply"].latency).toEqual({
      calls: applyDurations.length,
      p50Ms: Math.round(percentile(applyDurations, 0.5)),
      p99Ms: Math.round(percentile(applyDurations, 0.99)),
    });
    expect(byInterface["bank loan.query"].latency).toEqual({
      calls: 2,
      p50Ms: Math.round(percentile(queryDurations, 0.5)),
      p99Ms: Math.round(percentile(queryDurations, 0.99)),
    });
  });

  test("breakers over every node and the shared limiters' fill, from Redis", async () => {
    const { json } = await ops("GET", "/overview", { token: viewer });
    expect(json.flowState).toBe("known");
    const [apply, query] = json.partners;
    expect(apply.breaker).toEqual({
      state: "open",
      openNodes: 1,
      halfOpenNodes: 0,
      since: expect.any(Number),
      probeAt: apply.breaker.since + 600_000,
    });
    expect(query.breaker).toEqual({
      state: "closed",
      openNodes: 0,
      halfOpenNodes: 0,
      since: null,
      probeAt: null,
    });
    expect(apply.limiter).toEqual({
      concurrency: null,
      rate: { inWindow: 4, limit: 10, windowMs: 60_000 },
      saturation: 0.4,
    });
    expect(query.limiter).toEqual({
      concurrency: { held: 2, limit: 2 },
      rate: null,
      saturation: 1,
    });
  });

  test("each account's own limits, under the key flow control takes them by", async () => {
    const { json } = await ops("GET", "/overview", { token: viewer });
    expect(json.accounts).toEqual([
      {
        channel: "bank",
        account: "m1",
        limiter: {
          concurrency: { held: 1, limit: 3 },
          rate: null,
          saturation: 1 / 3,
        },
      },
    ]);
  });

  test("the outbox backlog next to the inbox's", async () => {
    const { json } = await ops("GET", "/overview", { token: viewer });
    expect(json.outbox).toEqual({
      pending: 2,
      retrying: 1,
      failed: 1,
      oldestPendingAt: expect.any(Number),
    });
    expect(Date.now() - json.outbox.oldestPendingAt).toBeGreaterThanOrEqual(5 * 60_000 - 1_000);
    expect(json.inboxPending).toBe(0);
  });

  test("without Redis the overview still answers, saying what it cannot know", async () => {
    const away = await openRedis({ url: redisUrl!, keyPrefix });
    await away.close();
    const cut = createServer({
      engine,
      store: db.instances,
      definitions: db.definitions,
      operators: { tokens: db.operatorTokens },
      flow: { limiter: away.limiter, breakers: away.breakers },
      log: false,
      console: false,
    });
    await cut.listen({ port: 0, host: "127.0.0.1" });
    try {
      const port = (cut.server.address() as { port: number }).port;
      const { status, json } = await opsClient(`http://127.0.0.1:${port}`)("GET", "/overview", {
        token: viewer,
      });
      expect(status).toBe(200);
      expect(json.flowState).toBe("unavailable");
      expect(json.partners[0]).toMatchObject({
        interface: "loan.apply",
        latency: { calls: applyDurations.length },
        breaker: null,
        limiter: null,
      });
    } finally {
      await cut.close();
    }
  });
});
