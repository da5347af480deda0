import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

/**
 * The port's rule "a commit into waiting with pending callbacks is due now" must hold even when
 * the callback arrives while the commit is in flight. The dangerous order: the commit statement
 * starts (its snapshot has no callback yet), blocks on the instance row held by a concurrent
 * wake(); the callback is stored; the wake commits; the commit proceeds. With a plain EXISTS the
 * commit would use its old snapshot, overwrite the wake and leave the instance asleep for an hour.
 */
describe.skipIf(!databaseUrl)(
  databaseUrl ? "commitTransition racing a callback on PostgreSQL" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db.drop();
    });

    test("a callback stored while the commit waits for the row is not missed", async () => {
      const { instance } = await db.instances.createInstance({
        id: randomUUID(),
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-race",
        behaviorVersion: 1,
        inputDigest: "d",
        input: {},
        step: "apply",
        status: "active",
        context: {},
        snapshot: null,
        nextRunAt: t0,
        now: t0,
      });
      // A wake() in progress: it holds the instance row.
      const wake = await db.knex.transaction();
      await wake.raw(
        `UPDATE "${db.schema}".instances SET next_run_at = LEAST(next_run_at, ?) WHERE id = ?`,
        [new Date(t0), instance.id],
      );
      const committing = db.instances.commitTransition({
        instanceId: instance.id,
        expectedVersion: 1,
        now: t0 + 5,
        changes: {
          step: "wait",
          status: "waiting",
          nextRunAt: t0 + 3_600_000,
          waitingFor: "loan.result",
        },
        log: { step: "apply", attempt: 1, event: "call", startedAt: t0, durationMs: 1 },
      });
      await expect
        .poll(
          async () =>
            (
              await db.knex.raw(
                `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%step_logs%' AND datname = current_database()`,
              )
            ).rows.length,
          { message: "the commit never waited for the row lock", interval: 10 },
        )
        .toBeGreaterThan(0);
      await db.instances.insertInbox({
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey: "N-race",
        businessKey: "L-race",
        payload: { status: "SUCCESS" },
        receivedAt: t0 + 2,
      });
      await wake.commit();
      const committed = await committing;
      expect(committed.status).toBe("waiting");
      expect(committed.nextRunAt).toBe(t0 + 5);
    });
  },
);
