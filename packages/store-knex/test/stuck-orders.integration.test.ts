import {
  CapflowError,
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
  openTestPglite,
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
    await db.knex.raw(`TRUNCATE "${db.schema}".sla_breaches, "${db.schema}".stuck_last_scan`);
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
    const errors: unknown[] = [];
    const monitor = (exclusive = knexExclusiveRunner(db)) =>
      new StuckMonitor({
        store: new KnexStuckStore(db),
        definitions,
        clock,
        exclusive,
        onEvent: (event) => events.push(event),
        onError: (error) => errors.push(error),
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
    return {
      clock,
      engine,
      events,
      errors,
      monitor,
      start,
      drain,
      stuck: new KnexStuckStore(db),
    };
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

  test("two nodes scan once per interval between them: a node skips its round when the other finished one less than a minute ago", async () => {
    const w = world();
    await w.start("L-1");
    await w.drain();
    const a = w.monitor();
    const b = w.monitor();
    // Each node's rounds a minute apart, b's half a minute after a's: 12 minutes, 24 rounds asked.
    const rounds: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const first = await a.check();
      rounds.push(first.ran ? "a" : `a ${first.skipped}`);
      await w.clock.advance(minute / 2);
      const second = await b.check();
      rounds.push(second.ran ? "b" : `b ${second.skipped}`);
      await w.clock.advance(minute / 2);
    }
    expect(rounds.filter((round) => !round.includes(" "))).toHaveLength(12);
    expect(rounds.slice(0, 4)).toEqual(["a", "b recent", "a", "b recent"]);
    const [row] = (
      await db.knex.raw(`SELECT node, finished_at FROM "${db.schema}".stuck_last_scan`)
    ).rows;
    expect(new Date(row.finished_at).getTime()).toBe(w.clock.now() - minute);

    // The stuck instance fired once, found by whichever node scanned after its SLA passed.
    expect(w.events.filter((event) => event.type === "instance.stuck")).toHaveLength(1);
  });

  test("a node scans once the last scan is an interval old: a node that stopped scanning blocks no one", async () => {
    const w = world();
    await w.start("L-1");
    await w.drain();
    const dead = w.monitor();
    const alive = w.monitor();
    expect((await dead.check()).ran).toBe(true);
    // `dead` never rounds again.
    await w.clock.advance(minute - 1);
    expect(await alive.check()).toMatchObject({ ran: false, skipped: "recent", examined: 0 });
    await w.clock.advance(1);
    expect(await alive.check()).toMatchObject({ ran: true, examined: 1 });
    // Its own last round never holds a node back: it keeps its own pace.
    expect((await alive.check()).ran).toBe(true);
    await w.clock.advance(11 * minute);
    expect((await alive.check()).newlyStuck).toHaveLength(1);

    // A stamp ahead of this node's clock (another node's clock ahead, or a clock set back) holds
    // no round back either.
    w.clock.set(w.clock.now() - 10 * minute);
    expect((await w.monitor().check()).ran).toBe(true);
  });

  test("a round that fails records no scan: the next node scans", async () => {
    const w = world();
    await w.start("L-1");
    await w.drain();
    expect((await w.monitor().check()).ran).toBe(true);
    const scannedAt = w.clock.now();
    await w.clock.advance(minute);
    const failing = new StuckMonitor({
      store: {
        unsettledInstances: () => Promise.reject(new Error("connection lost")),
        recordBreaches: (breaches) => w.stuck.recordBreaches(breaches),
        resolveCleared: (now) => w.stuck.resolveCleared(now),
        listStuck: (filter) => w.stuck.listStuck(filter),
        stuckCounts: () => w.stuck.stuckCounts(),
        lastScan: () => w.stuck.lastScan(),
        recordScan: (scan) => w.stuck.recordScan(scan),
      },
      definitions: new MemoryDefinitionSource({}),
      clock: w.clock,
      exclusive: knexExclusiveRunner(db),
    });
    await expect(failing.check()).rejects.toThrow("connection lost");
    expect(await w.stuck.lastScan()).toMatchObject({ finishedAt: scannedAt });
    await w.clock.advance(1_000);
    expect((await w.monitor().check()).ran).toBe(true);
  });

  test("a last scan that cannot be read or recorded (its table missing: a node upgraded before `capflow migrate`) never stops detection: every round scans and reports the error", async () => {
    const w = world();
    await w.start("L-1");
    await w.drain();
    await w.clock.advance(11 * minute);
    const a = w.monitor();
    const b = w.monitor();
    await db.knex.raw(
      `ALTER TABLE "${db.schema}".stuck_last_scan RENAME TO stuck_last_scan_not_yet_migrated`,
    );
    try {
      expect(await a.check()).toMatchObject({ ran: true, examined: 1, newlyStuck: [{}] });
      // Nothing says `a` scanned, so `b` scans too rather than skip: more scans, never none.
      expect(await b.check()).toMatchObject({ ran: true, examined: 1, newlyStuck: [] });
    } finally {
      await db.knex.raw(
        `ALTER TABLE "${db.schema}".stuck_last_scan_not_yet_migrated RENAME TO stuck_last_scan`,
      );
    }
    // Each round: the read and the record, each reported, saying what to do.
    expect(w.errors).toHaveLength(4);
    for (const error of w.errors) {
      expect(error).toBeInstanceOf(CapflowError);
      expect((error as CapflowError).message).toMatch(/run `capflow migrate`/);
    }
    expect(w.events.filter((event) => event.type === "instance.stuck")).toHaveLength(1);

    // Once the table is there, rounds share it again.
    expect((await a.check()).ran).toBe(true);
    expect(await b.check()).toMatchObject({ ran: false, skipped: "recent" });
    expect(w.errors).toHaveLength(4);
  });

  test("a round whose scan cannot be recorded keeps what it found: the store's error is reported, not thrown", async () => {
    const w = world();
    await w.start("L-1");
    await w.drain();
    await w.clock.advance(11 * minute);
    const errors: unknown[] = [];
    const monitor = new StuckMonitor({
      store: {
        unsettledInstances: (request) => w.stuck.unsettledInstances(request),
        recordBreaches: (breaches) => w.stuck.recordBreaches(breaches),
        resolveCleared: (now) => w.stuck.resolveCleared(now),
        listStuck: (filter) => w.stuck.listStuck(filter),
        stuckCounts: () => w.stuck.stuckCounts(),
        lastScan: () => w.stuck.lastScan(),
        recordScan: () => Promise.reject(new Error("connection lost")),
      },
      definitions: new MemoryDefinitionSource({}),
      clock: w.clock,
      exclusive: knexExclusiveRunner(db),
      onError: (error) => errors.push(error),
    });
    expect(await monitor.check()).toMatchObject({ ran: true, examined: 1 });
    expect(errors).toEqual([new Error("connection lost")]);
    expect(await w.stuck.lastScan()).toBeUndefined();
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

describe("stuck orders on PGlite", () => {
  test("the last scan is shared the same way: a second monitor skips a round within the interval", async () => {
    const db = await openTestPglite();
    try {
      const clock = new ManualClock();
      const monitor = () =>
        new StuckMonitor({
          store: new KnexStuckStore(db),
          definitions: new MemoryDefinitionSource({}),
          clock,
          exclusive: knexExclusiveRunner(db),
        });
      const a = monitor();
      const b = monitor();
      expect(await new KnexStuckStore(db).lastScan()).toBeUndefined();
      expect((await a.check()).ran).toBe(true);
      expect(await new KnexStuckStore(db).lastScan()).toEqual({
        finishedAt: clock.now(),
        node: expect.any(String),
      });
      await clock.advance(minute / 2);
      expect(await b.check()).toMatchObject({ ran: false, skipped: "recent" });
      await clock.advance(minute / 2);
      expect((await b.check()).ran).toBe(true);
      expect(await a.check()).toMatchObject({ ran: false, skipped: "recent" });
    } finally {
      await db.close();
    }
  });
});
