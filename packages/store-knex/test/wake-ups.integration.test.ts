import {
  createEngine,
  type InstanceRecord,
  ProcessorRegistry,
  type WakeUp,
  type WakeUpSubscription,
  Worker,
} from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CapflowDatabase, pushDefinitions } from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";
import { checkBehavior as behavior, shopChannel as channel } from "./support/decide-definitions.ts";

/**
 * Due notifications (migration 0016) over LISTEN/NOTIFY: which changes send one, and a worker
 * that polls once an hour still claims a start at once because of its notice.
 */
describe.skipIf(!databaseUrl)("due notifications on PostgreSQL", () => {
  let db: CapflowDatabase & { drop(): Promise<void> };
  beforeAll(async () => {
    db = await openTestPostgres();
    await pushDefinitions(db, { channels: [channel], behaviors: [behavior] });
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Resolves once this schema's due channel has a listener (so no notice can be missed). */
  async function listening(): Promise<void> {
    await expect
      .poll(async () => {
        const { rows } = (await db.knex.raw(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = ?",
          [`LISTEN "${db.schema}.due"`],
        )) as { rows: { n: number }[] };
        return rows[0]?.n ?? 0;
      })
      .toBeGreaterThan(0);
  }

  let serial = 0;
  async function create(nextRunAt: number | null): Promise<InstanceRecord> {
    serial++;
    const now = Date.now();
    const { instance } = await db.instances.createInstance({
      id: `wake-${serial}`,
      channel: "shop",
      behavior: "check",
      businessKey: `K-${serial}`,
      behaviorVersion: 1,
      inputDigest: "d",
      input: { amount: 1 },
      step: "check",
      status: "active",
      context: {},
      snapshot: null,
      nextRunAt,
      now,
    });
    return instance;
  }

  test("starts, retries due within seconds and given-back claims notify; claims, chained steps and settled instances do not", async () => {
    const notices: WakeUp[] = [];
    const subscription = await db.wakeUps!.listen((wakeUp) => notices.push(wakeUp));
    try {
      const noticeCount = async (n: number) => expect.poll(() => notices.length).toBe(n);

      // A start due now.
      const started = await create(Date.now());
      await noticeCount(1);
      expect(notices[0]).toMatchObject({ channel: "shop" });

      // Claimed (leased past its due time): nothing. Then a chained commit keeping the lease:
      // nothing. Then the lease given back while due: a notice. Notices arrive in commit order,
      // so the single notice proves the first two sent none.
      const [claimed] = await db.instances.claimDue({
        owner: "w1",
        now: Date.now(),
        leaseMs: 60_000,
        limit: 10,
      });
      expect(claimed?.id).toBe(started.id);
      const chained = await db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: claimed!.version,
        now: Date.now(),
        changes: { context: { seen: 1 }, nextRunAt: Date.now() },
        log: {
          step: "check",
          attempt: 0,
          event: "transition",
          startedAt: Date.now(),
          durationMs: 0,
        },
        keepLease: true,
        leaseUntil: Date.now() + 60_000,
      });
      await db.instances.releaseLease(started.id, "w1");
      await noticeCount(2);

      // A retry due in two seconds: a notice naming when.
      const retryAt = Date.now() + 2_000;
      const [again] = await db.instances.claimDue({
        owner: "w1",
        now: Date.now(),
        leaseMs: 60_000,
        limit: 10,
      });
      const retried = await db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: again?.version ?? chained.version,
        now: Date.now(),
        changes: { nextRunAt: retryAt },
        log: {
          step: "check",
          attempt: 1,
          event: "transition",
          startedAt: Date.now(),
          durationMs: 0,
        },
      });
      await noticeCount(3);
      expect(notices[2]?.at).toBe(retryAt);

      // Settled, and one due in an hour: nothing; then a start: its notice is the fourth.
      await db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: retried.version,
        now: Date.now(),
        changes: { step: "done", status: "succeeded", nextRunAt: null },
        log: {
          step: "check",
          attempt: 1,
          event: "transition",
          startedAt: Date.now(),
          durationMs: 0,
        },
      });
      await create(Date.now() + 3_600_000);
      await create(Date.now());
      await noticeCount(4);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(notices).toHaveLength(4);
    } finally {
      await subscription.close();
    }
  });

  test("a worker polling once an hour claims a start at once, woken by its notice", async () => {
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
    });
    const wakeUps: WakeUp[] = [];
    const worker = new Worker(engine, {
      idleMs: 3_600_000,
      inboxSweepMs: 0,
      wakeUps: db.wakeUps!,
      onWakeUp: (wakeUp) => wakeUps.push(wakeUp),
    }).start();
    try {
      await listening();
      const started = await engine.start({
        channel: "shop",
        behavior: "check",
        businessKey: "K-worker",
        input: { amount: 5 },
      });
      await expect.poll(() => wakeUps.length).toBeGreaterThan(0);
      expect(wakeUps[0]).toMatchObject({ channel: "shop" });
      await expect
        .poll(async () => (await engine.getInstance(started.id))?.status)
        .toBe("succeeded");
    } finally {
      await worker.stop();
      await engine.close();
    }
  });

  test("a broken listening connection is reopened and says so with a notice", async () => {
    const notices: WakeUp[] = [];
    let subscription: WakeUpSubscription | undefined;
    try {
      subscription = await db.wakeUps!.listen((wakeUp) => notices.push(wakeUp));
      await listening();
      await db.knex.raw(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = ? AND pid <> pg_backend_pid()",
        [`LISTEN "${db.schema}.due"`],
      );
      // The reconnect's own notice (details unknown), then notices flow again.
      await expect.poll(() => notices.length, { timeout: 5_000 }).toBe(1);
      expect(notices[0]).toEqual({});
      await create(Date.now());
      await expect.poll(() => notices.length).toBe(2);
      expect(notices[1]).toMatchObject({ channel: "shop" });
    } finally {
      await subscription?.close();
    }
  });
});

if (!databaseUrl) test.skip(skipMessage, () => {});
