import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createEngine,
  type Engine,
  type MigrationReport,
  ProcessorRegistry,
} from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CapflowDatabase, pushDefinitions } from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";
import { openThroughProxy, type TcpProxy } from "./support/tcp-proxy.ts";

const total = 10_000;
const operator = { who: "alice", why: "version 2 renames the wait and fixes its routes" };

const channel: ChannelDefinition = {
  code: "shop",
  name: "Shop",
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: { "order.query": { method: "POST", path: "/order/query", idempotent: true } },
  callbacks: {
    "order.result": {
      format: "json",
      correlation: "body.orderNo",
      dedupeKey: "body.notifyId",
      ack: { format: "json", body: { code: "0" } },
    },
  },
};

const version = (wait: string): BehaviorDefinition => ({
  channel: "shop",
  code: "order",
  initial: wait,
  steps: {
    [wait]: {
      kind: "callback",
      callback: "order.result",
      deadline: "1d",
      onDeadline: "query",
      routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      otherwise: "review",
    },
    query: {
      kind: "poll",
      interface: "order.query",
      request: { format: "json", body: {} },
      schedule: ["1m"],
      routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      onExhausted: "review",
    },
    done: { kind: "terminal", outcome: "succeeded" },
    review: { kind: "terminal", outcome: "manual" },
  },
});

/**
 * A migration of 10,000 waiting instances, stopped half-way and then cut off from the database
 * mid-commit, and resumed: every instance ends on the new version, each moved exactly once.
 */
describe.skipIf(!databaseUrl)("migrating 10,000 waiting instances (PostgreSQL)", () => {
  let direct: Awaited<ReturnType<typeof openTestPostgres>>;
  let proxy: TcpProxy;
  let proxied: CapflowDatabase;
  const engineOn = (db: CapflowDatabase): Engine =>
    createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
    });

  beforeAll(async () => {
    direct = await openTestPostgres({ pool: { max: 8 } });
    await pushDefinitions(direct, { channels: [channel], behaviors: [version("wait")] });
    const engine = engineOn(direct);
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, total - i) }, (_, k) =>
          engine.start({
            channel: "shop",
            behavior: "order",
            businessKey: `O-${i + k}`,
            input: { orderNo: `O-${i + k}` },
          }),
        ),
      );
    }
    await pushDefinitions(direct, { channels: [channel], behaviors: [version("awaitResult")] });
    ({ proxy, proxied } = await openThroughProxy(direct, databaseUrl!, 4));
  }, 300_000);

  afterAll(async () => {
    await proxied?.close();
    await proxy?.close();
    await direct?.drop();
  });

  test("stopped half-way, cut off mid-commit, resumed: none moved twice, none lost", async () => {
    const request = {
      channel: "shop",
      behavior: "order",
      from: 1,
      to: 2,
      map: { wait: "awaitResult" },
    };
    const preview = await engineOn(direct).migrateInstances({ ...request, dryRun: true });
    expect(preview).toMatchObject({ moved: total, refused: 0 });
    expect(preview.moves).toEqual([
      expect.objectContaining({
        fromStep: "wait",
        toStep: "awaitResult",
        how: "continue",
        count: total,
      }),
    ]);

    // 1. Stopped by the operator once about half have moved.
    const stop = new AbortController();
    const first = await engineOn(direct).migrateInstances(request, operator, {
      signal: stop.signal,
      onProgress: (report) => {
        if (report.moved >= total / 2) stop.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.moved).toBeGreaterThanOrEqual(total / 2);
    expect(first.moved).toBeLessThan(total);

    // 2. Resumed, and the database connections cut in the middle of it.
    let cut = false;
    const second = engineOn(proxied).migrateInstances(request, operator, {
      onProgress: (report: MigrationReport) => {
        if (!cut && report.moved >= 1_000) {
          cut = true;
          proxy.mode = "dropResponses";
          setTimeout(() => {
            proxy.cutAll();
            proxy.mode = "pass";
          }, 50);
        }
      },
    });
    const interrupted = await second.then(
      (report) => report,
      (error: unknown) => error,
    );
    expect(cut).toBe(true);
    // Either the run failed with the connection, or the store recovered each commit by re-reading.
    if (interrupted instanceof Error) {
      expect(interrupted).toMatchObject({ code: expect.stringMatching(/^STORE_/) });
    }

    // 3. Resumed again: the rest move.
    const last = await engineOn(direct).migrateInstances(request, operator);
    expect(last.refused).toBe(0);

    const t = `"${direct.schema}"`;
    const { rows: versions } = (await direct.knex.raw(
      `SELECT behavior_version, step, count(*)::int AS n FROM ${t}.instances GROUP BY 1, 2`,
    )) as { rows: { behavior_version: number; step: string; n: number }[] };
    expect(versions).toEqual([{ behavior_version: 2, step: "awaitResult", n: total }]);
    const { rows: moves } = (await direct.knex.raw(
      `SELECT count(*)::int AS logs, count(DISTINCT instance_id)::int AS instances,
              count(*) FILTER (WHERE actor->>'who' = 'alice')::int AS named
       FROM ${t}.step_logs WHERE outcome = 'migrate:1->2'`,
    )) as { rows: { logs: number; instances: number; named: number }[] };
    expect(moves[0]).toEqual({ logs: total, instances: total, named: total });
    expect((await engineOn(direct).migrateInstances(request, operator)).moved).toBe(0);
  }, 600_000);
});

if (!databaseUrl) console.warn(skipMessage);
