import { randomBytes } from "node:crypto";
import {
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, issueOperatorToken } from "../src/index.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl, type OpsClient, opsClient } from "./support/test-server.ts";

/**
 * The operator API's reads for the console: overview, parked queue, definitions with graphs and
 * version diffs, an instance's graph, and action previews, with their roles and refusals.
 */
describe.skipIf(!databaseUrl)("operator API for the console (PostgreSQL)", () => {
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
  let db: CapflowDatabase;
  let engine: Engine;
  let app: FastifyInstance;
  let ops: OpsClient;
  let viewer: string;
  let operator: string;
  const ids: string[] = [];

  beforeAll(async () => {
    db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
    await db.migrate();
    await pushDefinitions(db, { channels: [shopChannel], behaviors: [orderBehavior] });
    engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    for (let i = 1; i <= 4; i++) {
      const started = await engine.start({
        channel: "shop",
        behavior: "order",
        businessKey: `K-${i}`,
        input: { mobile: "13800138000", name: "张三", amount: "100.00" },
      });
      ids.push(started.id);
    }
    // A second version of the behavior: one step changed, one added.
    await pushDefinitions(db, {
      channels: [shopChannel],
      behaviors: [
        {
          ...orderBehavior,
          steps: {
            ...orderBehavior.steps,
            wait: { ...orderBehavior.steps.wait!, deadline: "2h" } as never,
            refunded: { kind: "terminal", outcome: "cancelled" },
          },
        },
      ],
    });
    // One instance parked: left at its step with an error and no next run.
    const parked = (await db.instances.getInstance(ids[3]!))!;
    await db.instances.commitTransition({
      instanceId: parked.id,
      expectedVersion: parked.version,
      now: Date.now(),
      changes: { nextRunAt: null, lastError: { code: "ROUTE_NOT_FOUND", message: "no route" } },
      log: { step: "wait", attempt: 0, event: "error", startedAt: Date.now(), durationMs: 0 },
    });
    await engine.cancel(ids[2]!, { who: "test", why: "cancelled for the overview" });
    app = createServer({
      engine,
      store: db.instances,
      definitions: db.definitions,
      // No `operations`: the knex store answers the overview itself.
      operators: { tokens: db.operatorTokens },
      log: false,
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.address() as { port: number };
    ops = opsClient(`http://127.0.0.1:${address.port}`);
    viewer = (
      await issueOperatorToken(db.operatorTokens, {
        name: "v",
        role: "viewer",
        reason: "test viewer",
      })
    ).token;
    operator = (
      await issueOperatorToken(db.operatorTokens, {
        name: "o",
        role: "operator",
        reason: "test operator",
      })
    ).token;
  });

  afterAll(async () => {
    await app?.close();
    await engine?.close();
    await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
  });

  test("the overview counts by channel, behavior and status, and the attention queue", async () => {
    const answer = await ops("GET", "/overview?stuckAfter=1h", { token: viewer });
    expect(answer.status).toBe(200);
    expect(answer.json.rows).toEqual([
      expect.objectContaining({
        channel: "shop",
        behavior: "order",
        timeZone: "Asia/Shanghai",
        byStatus: { waiting: 3, cancelled: 1 },
        total: 4,
        settledLastHour: 1,
        failedLastHour: 0,
        failureRate: 0,
      }),
    ]);
    expect(answer.json.stuckAfterMinutes).toBe(60);
    expect(answer.json.attention).toEqual([
      { kind: "manual", count: 0, oldestUpdatedAt: null },
      { kind: "parked", count: 1, oldestUpdatedAt: expect.any(Number) },
      { kind: "stuck", count: 0, oldestUpdatedAt: null },
    ]);
    const stuck = await ops("GET", "/overview?stuckAfter=0s", { token: viewer });
    expect(stuck.json.attention[2]).toMatchObject({ kind: "stuck", count: 3 });
  });

  test("the parked queue lists parked instances with keyset paging", async () => {
    const page = await ops("GET", "/attention/parked?limit=1", { token: viewer });
    expect(page.json.items.map((i: { id: string }) => i.id)).toEqual([ids[3]]);
    const next = await ops("GET", `/attention/parked?limit=1&cursor=${page.json.nextCursor}`, {
      token: viewer,
    });
    expect(next.json).toEqual({ items: [], nextCursor: null });
  });

  test("definitions list versions with pinned counts, draw graphs and compare versions", async () => {
    const listing = await ops("GET", "/definitions", { token: viewer });
    expect(listing.json.channels).toEqual([
      { code: "shop", name: "Shop", timeZone: "Asia/Shanghai" },
    ]);
    expect(listing.json.behaviors).toEqual([
      {
        channel: "shop",
        code: "order",
        versions: [
          { version: 1, active: false, steps: 5, pinned: 3 },
          { version: 2, active: true, steps: 6, pinned: 0 },
        ],
      },
    ]);
    const graph = await ops("GET", "/definitions/shop/order/1/graph", { token: viewer });
    expect(graph.json.initial).toBe("wait");
    expect(graph.json.nodes).toContainEqual({ id: "review", kind: "terminal", outcome: "manual" });
    expect(graph.json.edges).toContainEqual({ from: "wait", to: "review", label: "deadline" });
    const diff = await ops("GET", "/definitions/shop/order/diff?from=1&to=2", { token: viewer });
    expect(diff.json).toEqual({
      added: ["refunded"],
      removed: [],
      changed: ["wait"],
      fields: ["wait.deadline"],
    });
    const missing = await ops("GET", "/definitions/shop/order/9/graph", { token: viewer });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("DEFINITION_NOT_FOUND");
  });

  test("an instance's graph and the steps it may move to, in its pinned version", async () => {
    const answer = await ops("GET", `/instances/${ids[0]}/graph`, { token: viewer });
    expect(answer.json.timeZone).toBe("Asia/Shanghai");
    expect(answer.json.moveTargets).toEqual(["wait", "waitGbk", "paid", "unpaid", "review"]);
  });

  test("a preview says what an action would do and changes nothing", async () => {
    const before = await engine.getInstance(ids[0]!);
    const move = await ops("POST", `/instances/${ids[0]}/preview`, {
      token: operator,
      body: { action: "move", step: "review" },
    });
    expect(move.status).toBe(200);
    expect(move.json).toMatchObject({
      action: "move",
      allowed: true,
      from: { step: "wait", status: "waiting" },
      to: { step: "review", status: "manual" },
      nextRunAt: null,
      version: before!.version,
    });
    const cancelSettled = await ops("POST", `/instances/${ids[2]}/preview`, {
      token: operator,
      body: { action: "cancel" },
    });
    expect(cancelSettled.json.allowed).toBe(false);
    expect(cancelSettled.json.warnings[0]).toContain("settled (cancelled)");
    const unknownStep = await ops("POST", `/instances/${ids[0]}/preview`, {
      token: operator,
      body: { action: "move", step: "refunded" },
    });
    expect(unknownStep.json.allowed).toBe(false);
    expect(unknownStep.json.warnings[0]).toContain('version 1 has no step "refunded"');
    expect(await engine.getInstance(ids[0]!)).toEqual(before);
  });

  test("refuses a viewer's preview, unknown fields, bad input and no token", async () => {
    const asViewer = await ops("POST", `/instances/${ids[0]}/preview`, {
      token: viewer,
      body: { action: "retry" },
    });
    expect(asViewer.status).toBe(403);
    const extra = await ops("POST", `/instances/${ids[0]}/preview`, {
      token: operator,
      body: { action: "retry", who: "someone else" },
    });
    expect(extra.status).toBe(400);
    const badAction = await ops("POST", `/instances/${ids[0]}/preview`, {
      token: operator,
      body: { action: "delete" },
    });
    expect(badAction.status).toBe(400);
    const malformed = await ops("POST", `/instances/${ids[0]}/preview`, {
      token: operator,
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    const badDuration = await ops("GET", "/overview?stuckAfter=soon", { token: viewer });
    expect(badDuration.status).toBe(400);
    const badCursor = await ops("GET", "/attention/parked?cursor=xyz", { token: viewer });
    expect(badCursor.status).toBe(400);
    for (const path of ["/overview", "/definitions", `/instances/${ids[0]}/graph`]) {
      expect((await ops("GET", path)).status, path).toBe(401);
    }
  });

  test("serves the built console at /console, with a strict content policy", async () => {
    const address = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const redirect = await fetch(`${base}/console`, { redirect: "manual" });
    expect(redirect.status).toBe(301);
    const page = await fetch(`${base}/console/`);
    if (page.status === 404) return; // not built in this checkout (pnpm build builds it)
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('<div id="app">');
    const traversal = await fetch(`${base}/console/..%2f..%2fpackage.json`);
    expect(traversal.status).toBe(404);
  });
});
