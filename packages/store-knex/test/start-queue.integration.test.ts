import {
  CapflowError,
  Engine,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
  type QueueEvent,
  StartQueue,
  type StartQueueStore,
} from "@capflow/core";
import { digestOf } from "@capflow/core/internal";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore, KnexStartQueueStore, knexExclusiveRunner } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

describe.skipIf(!databaseUrl)(databaseUrl ? "queued starts on PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  beforeAll(async () => {
    db = await openTestPostgres();
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await truncateRuntimeTables(db);
    await db.knex.raw(`TRUNCATE "${db.schema}".queued_starts, "${db.schema}".outbox`);
  });

  function world(
    engineOverride?: { start: Engine["start"] },
    wrapStore: (store: KnexStartQueueStore) => StartQueueStore = (store) => store,
  ) {
    const clock = new ManualClock();
    const engine = new Engine({
      store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      definitions: new MemoryDefinitionSource({
        channels: [testChannel],
        behaviors: [loanBehavior()],
      }),
      processors: new ProcessorRegistry(),
      transport: new ScriptedTransport().script("/loan/apply", { body: { status: "ACCEPTED" } }),
      clock,
      locks: new InProcessLockProvider({ clock }),
    });
    const events: QueueEvent[] = [];
    const raised: string[] = [];
    const store = new KnexStartQueueStore(db);
    const queue = new StartQueue({
      store: wrapStore(store),
      engine: engineOverride ?? engine,
      clock,
      exclusive: knexExclusiveRunner(db),
      policies: [
        {
          channel: "lanbank",
          behavior: "loan",
          ratePerSecond: 2,
          concurrency: 3,
          ttl: "1m",
          retryBudget: 2,
        },
      ],
      alerts: {
        async raise(rule, subject, summary) {
          raised.push(`${rule} ${subject}: ${summary}`);
        },
      },
      onEvent: (event) => events.push(event),
      notifications: true,
    });
    const enqueue = (loanNo: string) =>
      queue.enqueue({
        channel: "lanbank",
        behavior: "loan",
        businessKey: loanNo,
        input: { loanNo, amount: 100, idCardNo: "110101199003071234" },
      });
    return { clock, engine, queue, store, events, raised, enqueue };
  }

  test("admitted first in first out at the rate and within the concurrency; the rest expire unstarted, raise an alert and are reported", async () => {
    const w = world();
    for (let i = 1; i <= 6; i += 1) await w.enqueue(`L-${i}`);
    // The same business queued twice is queued once.
    await w.enqueue("L-1");
    expect(await w.queue.depths()).toEqual([
      { channel: "lanbank", behavior: "loan", depth: 6, oldestEnqueuedAt: w.clock.now() },
    ]);

    expect((await w.queue.admit()).started).toBe(2); // two a second
    expect((await w.queue.admit()).started).toBe(0); // no tokens left
    await w.clock.advance(1000);
    expect((await w.queue.admit()).started).toBe(1); // three unsettled: the concurrency
    await w.clock.advance(1000);
    expect((await w.queue.admit()).started).toBe(0);
    const admitted = w.events
      .filter((e) => e.type === "start.admitted")
      .map((e) => e.queued.businessKey);
    expect(admitted).toEqual(["L-1", "L-2", "L-3"]);

    // A minute after queueing: the rest expire, never started.
    await w.clock.advance(58_000);
    const round = await w.queue.admit();
    expect(round.expired.map((q) => q.businessKey)).toEqual(["L-4", "L-5", "L-6"]);
    expect(round.started).toBe(0);
    expect(w.events.filter((e) => e.type === "start.expired")).toHaveLength(3);
    expect(w.raised[0]).toMatch(
      /^queued-starts-expired lanbank\/loan: queued start lanbank\/loan L-4 expired/,
    );
    expect(
      await w.engine.findInstance({ channel: "lanbank", behavior: "loan", businessKey: "L-4" }),
    ).toBeUndefined();
    expect(await w.queue.depths()).toEqual([]);
  });

  test("a start refused again and again spends its retry budget and is given up, keeping its place until then", async () => {
    let calls = 0;
    const w = world({
      start: async () => {
        calls += 1;
        throw new CapflowError("STORE_UNAVAILABLE", "the database is away");
      },
    });
    const queued = await w.enqueue("L-1");
    await w.queue.admit();
    expect(await w.store.getQueued(queued.id)).toMatchObject({ status: "queued", attempts: 1 });
    await w.clock.advance(1000);
    const round = await w.queue.admit();
    expect(round.gaveUp.map((q) => q.businessKey)).toEqual(["L-1"]);
    expect(await w.store.getQueued(queued.id)).toMatchObject({
      status: "failed",
      attempts: 2,
      lastError: { code: "STORE_UNAVAILABLE" },
    });
    expect(calls).toBe(2);
    expect(w.events.map((e) => e.type)).toEqual(["start.gave-up"]);
    expect(w.raised).toHaveLength(1);
  });

  test("two nodes taking turns at admitting keep to the rate together", async () => {
    const a = world();
    // A second node: its own queue object and bucket over the same tables, on the same clock.
    const b = new StartQueue({
      store: new KnexStartQueueStore(db),
      engine: a.engine,
      clock: a.clock,
      exclusive: knexExclusiveRunner(db),
      policies: [
        { channel: "lanbank", behavior: "loan", ratePerSecond: 2, concurrency: 100, ttl: "1m" },
      ],
    });
    for (let i = 1; i <= 8; i += 1) await a.enqueue(`L-${i}`);
    let started = 0;
    for (let round = 0; round < 10; round += 1) {
      started += (await (round % 2 === 0 ? a.queue : b).admit()).started;
      await a.clock.advance(200);
    }
    // Two seconds of rounds at two a second: four starts, not a bucket's worth per node.
    expect(started).toBe(4);
  });

  test("enqueueOnce queues a business key once ever: a repeat finds the queued start, or the instance it became", async () => {
    const w = world();
    const start = (id: string) => ({
      id,
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-9",
      input: { loanNo: "L-9" },
      inputDigest: digestOf({ loanNo: "L-9" }),
      enqueuedAt: w.clock.now(),
      expiresAt: w.clock.now() + 60_000,
      upstreamClient: "platform",
    });
    const first = await w.store.enqueueOnce(start("00000000-0000-4000-8000-000000000001"));
    expect(first).toMatchObject({ outcome: "queued", queued: { status: "queued" } });
    const racing = await Promise.all(
      ["2", "3", "4"].map((n) =>
        w.store.enqueueOnce(start(`00000000-0000-4000-8000-00000000000${n}`)),
      ),
    );
    expect(racing.map((r) => r.outcome)).toEqual([
      "queued-before",
      "queued-before",
      "queued-before",
    ]);
    await w.queue.admit();
    const after = await w.store.enqueueOnce(start("00000000-0000-4000-8000-000000000005"));
    expect(after).toMatchObject({ outcome: "queued-before", queued: { status: "started" } });
    expect(
      await w.store.findQueued({ channel: "lanbank", behavior: "loan", businessKey: "L-9" }),
    ).toMatchObject({ id: "00000000-0000-4000-8000-000000000001", status: "started" });
    // A business key started directly (never queued) is answered with its instance.
    const direct = await w.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-10",
      input: { loanNo: "L-10", amount: 1, idCardNo: "110101199003071234" },
    });
    expect(
      await w.store.enqueueOnce({
        ...start("00000000-0000-4000-8000-000000000006"),
        businessKey: "L-10",
      }),
    ).toEqual({
      outcome: "started-before",
      instance: { id: direct.id, inputDigest: direct.inputDigest, upstreamClient: null },
    });
    const rows = await db.knex.raw(`SELECT count(*)::int AS n FROM "${db.schema}".queued_starts`);
    expect((rows as { rows: { n: number }[] }).rows[0]!.n).toBe(1);
  });

  test("a client's queued start meeting another client's instance of its business key expires, and never takes that instance as its own", async () => {
    const w = world();
    const request = (businessKey: string, upstreamClient: string) => ({
      channel: "lanbank",
      behavior: "loan",
      businessKey,
      input: { loanNo: businessKey, amount: 100, idCardNo: "110101199003071234" },
      upstreamClient,
    });
    const queuedByB = await w.queue.enqueue(request("L-20", "lender-b"));
    const sameClient = await w.queue.enqueue(request("L-21", "lender-b"));
    // Started some other way while they wait: one by another client, one by their own.
    const taken = await w.engine.start(request("L-20", "lender-a"));
    const own = await w.engine.start(request("L-21", "lender-b"));
    await w.clock.advance(61_000);
    const round = await w.queue.admit();
    expect(round.expired.map((q) => q.id)).toEqual([queuedByB.id]);
    expect(await w.store.getQueued(queuedByB.id)).toMatchObject({
      status: "expired",
      instanceId: null,
    });
    expect(await w.store.getQueued(sameClient.id)).toMatchObject({
      status: "started",
      instanceId: own.id,
    });
    expect(JSON.stringify(await w.store.getQueued(queuedByB.id))).not.toContain(taken.id);
  });

  const outboxTypes = async () =>
    (
      (await db.knex.raw(`SELECT type FROM "${db.schema}".outbox ORDER BY id`)) as {
        rows: { type: string }[];
      }
    ).rows.map((row) => row.type);

  test("a start whose instance was made is never given up: a row that cannot be marked started stays queued, and the next round marks it", async () => {
    let refusals = 2;
    // The store, whose markStarted fails twice.
    const w = world(
      undefined,
      (store) =>
        new Proxy(store, {
          get(target, property) {
            if (property === "markStarted") {
              return async (id: string, instanceId: string, now: number) => {
                if (refusals-- > 0) {
                  throw new CapflowError("STORE_UNAVAILABLE", "the database is away");
                }
                return target.markStarted(id, instanceId, now);
              };
            }
            const value = Reflect.get(target, property, target);
            return typeof value === "function" ? value.bind(target) : value;
          },
        }),
    );
    const queued = await w.enqueue("L-1");
    // Twice the instance is made and the row cannot be marked: the round fails, the row waits.
    for (let round = 0; round < 2; round += 1) {
      await expect(w.queue.admit()).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
      expect(await w.store.getQueued(queued.id)).toMatchObject({
        status: "queued",
        attempts: 0,
        lastError: null,
      });
      await w.clock.advance(1000);
    }
    const instance = await w.engine.findInstance({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-1",
    });
    expect(instance).toBeDefined();
    // The next round's start returns that instance and marks the row with it.
    expect((await w.queue.admit()).started).toBe(1);
    expect(await w.store.getQueued(queued.id)).toMatchObject({
      status: "started",
      instanceId: instance!.id,
    });
    expect(w.events.map((e) => e.type)).toEqual(["start.admitted"]);
    expect(w.raised).toEqual([]);
    expect(await outboxTypes()).toEqual([]);
  });

  test("a refusal that came after the instance was made closes the start as started, not failed", async () => {
    const w = world({
      start: async (request) => {
        await w.engine.start(request);
        throw new CapflowError("STORE_UNAVAILABLE", "the connection was lost before the answer");
      },
    });
    const queued = await w.enqueue("L-1");
    const round = await w.queue.admit();
    const instance = await w.engine.findInstance({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-1",
    });
    expect(round).toMatchObject({ started: 1, gaveUp: [] });
    expect(await w.store.getQueued(queued.id)).toMatchObject({
      status: "started",
      instanceId: instance!.id,
    });
    expect(w.events).toEqual([
      expect.objectContaining({ type: "start.admitted", instanceId: instance!.id }),
    ]);
    expect(await outboxTypes()).toEqual([]);
  });

  test("a start refused because its business started with other input is given up, never linked to that instance", async () => {
    const w = world();
    const queued = await w.enqueue("L-1");
    // The same loan number started directly, for another amount.
    await w.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-1",
      input: { loanNo: "L-1", amount: 900, idCardNo: "110101199003071234" },
    });
    const round = await w.queue.admit();
    expect(round.started).toBe(0);
    expect(round.gaveUp.map((start) => start.id)).toEqual([queued.id]);
    const after = await w.store.getQueued(queued.id);
    expect(after).toMatchObject({
      status: "failed",
      instanceId: null,
      lastError: expect.objectContaining({ code: "INSTANCE_INPUT_MISMATCH" }),
    });
    expect(w.events.map((e) => e.type)).toEqual(["start.gave-up"]);
    expect(await outboxTypes()).toEqual(["start.gave-up"]);
  });

  test("a start whose business started meanwhile with other input is given up at its expiry, never closed as started with that instance", async () => {
    const w = world();
    const queued = await w.enqueue("L-1");
    const same = await w.enqueue("L-2");
    // Both loan numbers started directly while they wait: L-1 for another amount.
    const other = await w.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-1",
      input: { loanNo: "L-1", amount: 900, idCardNo: "110101199003071234" },
    });
    const own = await w.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-2",
      input: { loanNo: "L-2", amount: 100, idCardNo: "110101199003071234" },
    });
    await w.clock.advance(61_000);
    const round = await w.queue.admit();
    expect(round).toMatchObject({ started: 0, expired: [] });
    expect(round.gaveUp.map((start) => start.id)).toEqual([queued.id]);
    expect(await w.store.getQueued(queued.id)).toMatchObject({
      status: "failed",
      instanceId: null,
      lastError: expect.objectContaining({ code: "INSTANCE_INPUT_MISMATCH" }),
    });
    expect(JSON.stringify(await w.store.getQueued(queued.id))).toContain(other.id);
    expect(await w.store.getQueued(same.id)).toMatchObject({
      status: "started",
      instanceId: own.id,
    });
    expect(w.events.map((e) => e.type)).toEqual(["start.gave-up"]);
    expect(w.raised).toEqual([expect.stringMatching(/L-1 given up .*INSTANCE_INPUT_MISMATCH/)]);
    expect(await outboxTypes()).toEqual(["start.gave-up"]);
  });

  test("a start queued without an input digest (before migration 0044, or by an older node) gets it from its stored input at its expiry", async () => {
    const w = world();
    const queued = await w.enqueue("L-1");
    const same = await w.enqueue("L-2");
    await db.knex.raw(`UPDATE "${db.schema}".queued_starts SET input_digest = NULL`);
    expect(await w.store.getQueued(same.id)).toMatchObject({ inputDigest: same.inputDigest });
    const started = (loanNo: string, amount: number) =>
      w.engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: loanNo,
        input: { loanNo, amount, idCardNo: "110101199003071234" },
      });
    await started("L-1", 900);
    const own = await started("L-2", 100);
    await w.clock.advance(61_000);
    const round = await w.queue.admit();
    expect(round.gaveUp.map((start) => start.id)).toEqual([queued.id]);
    expect(await w.store.getQueued(same.id)).toMatchObject({
      status: "started",
      instanceId: own.id,
    });
    const digests = (await db.knex.raw(
      `SELECT id, input_digest FROM "${db.schema}".queued_starts ORDER BY seq`,
    )) as { rows: { id: string; input_digest: string }[] };
    expect(digests.rows).toEqual([
      { id: queued.id, input_digest: queued.inputDigest },
      { id: same.id, input_digest: same.inputDigest },
    ]);
  });

  test("a start another node marked started meanwhile is reported once, by that node", async () => {
    let queuedId = "";
    const w = world({
      start: async (request) => {
        const instance = await w.engine.start(request);
        // Another node's round marks the same row started first.
        expect(await w.store.markStarted(queuedId, instance.id, w.clock.now())).toBe(true);
        return instance;
      },
    });
    queuedId = (await w.enqueue("L-1")).id;
    expect(await w.queue.admit()).toMatchObject({ started: 0, gaveUp: [] });
    expect(await w.store.getQueued(queuedId)).toMatchObject({ status: "started", attempts: 1 });
    expect(w.events).toEqual([]);
  });

  test("a refusal on a start another node marked started meanwhile reports nothing", async () => {
    let queuedId = "";
    const w = world({
      start: async (request) => {
        const instance = await w.engine.start(request);
        await w.store.markStarted(queuedId, instance.id, w.clock.now());
        throw new CapflowError("STORE_UNAVAILABLE", "the connection was lost before the answer");
      },
    });
    queuedId = (await w.enqueue("L-1")).id;
    expect(await w.queue.admit()).toMatchObject({ started: 0, gaveUp: [] });
    expect(await w.store.getQueued(queuedId)).toMatchObject({ status: "started", attempts: 1 });
    expect(w.events).toEqual([]);
    expect(await outboxTypes()).toEqual([]);
  });

  test("a failed attempt is counted only on a start still queued: one marked started meanwhile stays started", async () => {
    const w = world();
    const queued = await w.enqueue("L-1");
    await w.store.markStarted(queued.id, "01JINSTANCE0000000000000000", w.clock.now());
    const after = await w.store.markAttemptFailed(
      queued.id,
      { code: "STORE_UNAVAILABLE", message: "late" },
      w.clock.now(),
      true,
      { notify: true, inputDigest: "any" },
    );
    expect(after).toMatchObject({
      changed: false,
      start: { status: "started", instanceId: "01JINSTANCE0000000000000000" },
    });
    expect(await w.store.getQueued(queued.id)).toMatchObject({
      status: "started",
      lastError: null,
    });
    expect(await outboxTypes()).toEqual([]);
  });

  test("a start whose time to live passed during a long round is not admitted", async () => {
    let w: ReturnType<typeof world>;
    // Each start takes 40 s (a slow database): the second's minute is over when its turn comes.
    w = world({
      start: async (request) => {
        await w.clock.advance(40_000);
        return w.engine.start(request);
      },
    });
    await w.enqueue("L-1");
    await w.clock.advance(30_000);
    await w.enqueue("L-2");
    await w.clock.advance(25_000);
    expect((await w.queue.admit()).started).toBe(1);
    expect(
      await w.engine.findInstance({ channel: "lanbank", behavior: "loan", businessKey: "L-2" }),
    ).toBeUndefined();
    // Nor is one read after its time to live passed, before any round expired it.
    await w.enqueue("L-3");
    expect(
      await w.store.oldestQueued({
        channel: "lanbank",
        behavior: "loan",
        limit: 10,
        now: w.clock.now() + 60_000,
      }),
    ).toEqual([]);
    const round = await w.queue.admit();
    expect(round.expired.map((q) => q.businessKey)).toEqual(["L-2"]);
  });

  test("a start without a queue policy is refused", async () => {
    const w = world();
    await expect(
      w.queue.enqueue({ channel: "lanbank", behavior: "repay", businessKey: "R-1", input: {} }),
    ).rejects.toMatchObject({ code: "CONFIG_INVALID" });
  });
});
