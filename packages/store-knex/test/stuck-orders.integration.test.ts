import {
  Engine,
  type EngineEvent,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
  StuckMonitor,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore, KnexStuckStore, knexExclusiveRunner } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const minute = 60_000;

describe.skipIf(!databaseUrl)(databaseUrl ? "stuck orders on PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  beforeAll(async () => {
    db = await openTestPostgres();
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await truncateRuntimeTables(db);
    await db.knex.raw(`TRUNCATE "${db.schema}".sla_breaches`);
  });

  /** Loans wait at `wait` (step SLA 10m) for a callback; the behavior's SLA is 1h. */
  function world(options: { channelSla?: string; behaviorSla?: string } = {}) {
    const clock = new ManualClock();
    const store = new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target });
    const behavior = loanBehavior();
    if (options.behaviorSla) behavior.sla = options.behaviorSla;
    const wait = behavior.steps.wait;
    if (wait?.kind === "callback") wait.sla = "10m";
    const definitions = new MemoryDefinitionSource({
      channels: [{ ...testChannel, ...(options.channelSla ? { sla: options.channelSla } : {}) }],
      behaviors: [behavior],
    });
    const transport = new ScriptedTransport().script("/loan/apply", {
      body: { status: "ACCEPTED", applyNo: "A-1" },
    });
    const engine = new Engine({
      store,
      definitions,
      processors: new ProcessorRegistry(),
      transport,
      clock,
      locks: new InProcessLockProvider({ clock }),
    });
    const events: EngineEvent[] = [];
    const monitor = (exclusive = knexExclusiveRunner(db)) =>
      new StuckMonitor({
        store: new KnexStuckStore(db),
        definitions,
        clock,
        exclusive,
        onEvent: (event) => events.push(event),
        batchSize: 2,
      });
    const start = (loanNo: string) =>
      engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: loanNo,
        input: { loanNo, amount: 100, idCardNo: "110101199003071234" },
      });
    const drain = async () => {
      while ((await engine.runDue()) > 0) {}
    };
    return { clock, engine, events, monitor, start, drain, stuck: new KnexStuckStore(db) };
  }

  test("an instance past its step's SLA fires instance.stuck once, is listed and counted, and clears when it moves on", async () => {
    const w = world();
    const loan = await w.start("L-1");
    await w.drain(); // apply -> wait (for the callback)
    await w.clock.advance(5 * minute);
    const monitor = w.monitor();
    expect((await monitor.check()).newlyStuck).toEqual([]);

    await w.clock.advance(6 * minute); // 11 minutes at `wait`
    const first = await monitor.check();
    expect(first.newlyStuck).toEqual([
      expect.objectContaining({ instanceId: loan.id, step: "wait", scope: "step", slaMs: 600_000 }),
    ]);
    expect(w.events).toEqual([
      expect.objectContaining({
        type: "instance.stuck",
        instanceId: loan.id,
        channel: "lanbank",
        behavior: "loan",
        step: "wait",
        businessKey: "L-1",
        scope: "step",
        overdueMs: minute,
      }),
    ]);
    // Later rounds, and a second node's monitor, do not fire it again.
    await w.clock.advance(minute);
    expect((await monitor.check()).newlyStuck).toEqual([]);
    expect((await w.monitor().check()).newlyStuck).toEqual([]);
    expect(w.events).toHaveLength(1);
    expect(await monitor.counts()).toEqual([
      { channel: "lanbank", behavior: "loan", step: "wait", count: 1 },
    ]);
    expect(await monitor.list()).toEqual([
      expect.objectContaining({ instanceId: loan.id, resolvedAt: null }),
    ]);

    // The deadline (30m) moves it to `query`: the breach clears; `query` has no SLA of its own.
    await w.clock.advance(20 * minute);
    await w.drain();
    const cleared = await monitor.check();
    expect(cleared.resolved).toBe(1);
    expect(await monitor.counts()).toEqual([]);
    expect(await monitor.list()).toEqual([]);
  });

  test("the behavior's SLA, or the channel's default, counts from creation; settled instances are never stuck", async () => {
    const w = world({ channelSla: "20m" });
    const waiting = await w.start("L-1");
    const rejected = await w.start("L-2");
    await w.drain();
    // L-2 settles at once: a rejection.
    await db.knex.raw(`UPDATE "${db.schema}".instances SET status = 'failed' WHERE id = ?`, [
      rejected.id,
    ]);
    await w.clock.advance(21 * minute);
    const check = await w.monitor().check();
    expect(check.newlyStuck.map((b) => [b.instanceId, b.scope])).toEqual([
      [waiting.id, "behavior"],
      [waiting.id, "step"],
    ]);
    // One instance, counted once at its step.
    expect(await w.monitor().counts()).toEqual([
      { channel: "lanbank", behavior: "loan", step: "wait", count: 1 },
    ]);

    const own = world({ channelSla: "20m", behaviorSla: "2h" });
    const later = await own.start("L-3");
    await own.drain();
    own.clock.set(w.clock.now());
    await own.clock.advance(30 * minute);
    const breaches = (await own.monitor().check()).newlyStuck.filter(
      (b) => b.instanceId === later.id,
    );
    expect(breaches.map((b) => b.scope)).toEqual(["step"]);
  });

  test("an instance stuck past its behavior's SLA is counted at the step it is at now, after it moves on", async () => {
    const w = world({ channelSla: "20m" });
    const loan = await w.start("L-1");
    await w.drain(); // apply -> wait
    await w.clock.advance(21 * minute);
    const monitor = w.monitor();
    expect((await monitor.check()).newlyStuck.map((b) => [b.scope, b.step])).toEqual([
      ["behavior", "wait"],
      ["step", "wait"],
    ]);
    expect(await monitor.counts()).toEqual([
      { channel: "lanbank", behavior: "loan", step: "wait", count: 1 },
    ]);

    // The deadline (30m) moves it to `query`: the step breach clears, the behavior's holds, and
    // the gauge follows the instance rather than staying where the breach was found.
    await w.clock.advance(10 * minute);
    await w.drain();
    expect((await w.stuck.listStuck()).map((b) => `${b.scope} at ${b.step}`).sort()).toEqual([
      "behavior at wait",
      "step at wait",
    ]);
    expect((await monitor.check()).resolved).toBe(1);
    expect((await w.stuck.listStuck()).map((b) => [b.instanceId, b.scope])).toEqual([
      [loan.id, "behavior"],
    ]);
    expect(await monitor.counts()).toEqual([
      { channel: "lanbank", behavior: "loan", step: "query", count: 1 },
    ]);
  });

  test("one node at a time: a round while another node holds the lock does nothing", async () => {
    const w = world();
    await w.start("L-1");
    await w.drain();
    await w.clock.advance(11 * minute);
    const runner = knexExclusiveRunner(db);
    let inner: Awaited<ReturnType<StuckMonitor["check"]>> | undefined;
    await runner.runExclusive("capflow:stuck-monitor", async () => {
      inner = await w.monitor().check();
    });
    expect(inner?.ran).toBe(false);
    expect(w.events).toEqual([]);
    expect((await w.monitor().check()).newlyStuck).toHaveLength(1);
  });

  test("pages through more unsettled instances than one batch", async () => {
    const w = world();
    for (let i = 0; i < 5; i += 1) await w.start(`L-${i}`);
    await w.drain();
    await w.clock.advance(11 * minute);
    const check = await w.monitor().check();
    expect(check.examined).toBe(5);
    expect(check.newlyStuck).toHaveLength(5);
    expect(await w.stuck.listStuck({ limit: 3 })).toHaveLength(3);
    expect(await w.stuck.listStuck({ channel: "other" })).toEqual([]);
  });
});
