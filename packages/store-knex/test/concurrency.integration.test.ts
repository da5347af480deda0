import { randomUUID } from "node:crypto";
import { type InstanceRecord, isCapflowError } from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CapflowDatabase, openPostgresStore } from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

describe.skipIf(!databaseUrl)(
  databaseUrl ? "KnexInstanceStore under concurrency on PostgreSQL" : skipMessage,
  () => {
    let owner: Awaited<ReturnType<typeof openTestPostgres>>;
    /** Eight workers, each with its own pool, as eight nodes would have. */
    let workers: CapflowDatabase[];

    beforeAll(async () => {
      owner = await openTestPostgres();
      workers = Array.from({ length: 8 }, () =>
        openPostgresStore({
          connectionString: databaseUrl!,
          schema: owner.schema,
          pool: { max: 2 },
        }),
      );
    });
    afterAll(async () => {
      await Promise.all(workers.map((w) => w.close()));
      await owner.drop();
    });

    test("8 workers claiming 10,000 due instances claim each exactly once", async () => {
      await owner.knex.raw(
        `INSERT INTO "${owner.schema}".instances (id, channel, behavior, behavior_version, business_key,
           input, input_digest, step, status, context, snapshot, next_run_at, created_at, updated_at)
         SELECT 'bulk-' || n, 'lanbank', 'loan', 1, 'L-' || n, '{}', 'd', 'apply', 'active', '{}',
           'null', to_timestamp(? / 1000.0) - n * interval '1 millisecond', now(), now()
         FROM generate_series(1, 10000) AS n`,
        [t0],
      );
      const claimedBy = await Promise.all(
        workers.map(async (worker, w) => {
          const ids: string[] = [];
          for (;;) {
            const batch = await worker.instances.claimDue({
              owner: `w${w}`,
              now: t0,
              leaseMs: 600_000,
              limit: 25,
            });
            if (batch.length === 0) return ids;
            for (const instance of batch) {
              expect(instance.leaseOwner).toBe(`w${w}`);
              ids.push(instance.id);
            }
          }
        }),
      );
      const all = claimedBy.flat();
      expect(all).toHaveLength(10_000);
      expect(new Set(all).size).toBe(10_000);
      // Every worker got work: claims interleaved rather than serialised behind one worker.
      for (const ids of claimedBy) expect(ids.length).toBeGreaterThan(0);
      const { rows } = await owner.knex.raw(
        `SELECT count(*)::int AS n FROM "${owner.schema}".instances WHERE lease_owner IS NULL`,
      );
      expect(rows[0].n).toBe(0);
    }, 60_000);

    test("two workers committing the same version: exactly one wins, every time", async () => {
      const instances: InstanceRecord[] = [];
      for (let i = 0; i < 50; i++) {
        const { instance } = await owner.instances.createInstance({
          id: randomUUID(),
          channel: "lanbank",
          behavior: "loan",
          businessKey: `race-${i}`,
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
        instances.push(instance);
      }
      const results = await Promise.all(
        instances.map((instance) =>
          Promise.allSettled(
            [workers[0]!, workers[1]!].map((worker, w) =>
              worker.instances.commitTransition({
                instanceId: instance.id,
                expectedVersion: 1,
                now: t0 + 1,
                changes: { step: `by-w${w}` },
                log: { step: "apply", attempt: 1, event: "call", startedAt: t0, durationMs: 1 },
              }),
            ),
          ),
        ),
      );
      for (const [i, pair] of results.entries()) {
        const won = pair.filter((r) => r.status === "fulfilled");
        expect(won).toHaveLength(1);
        const lost = pair.find((r) => r.status === "rejected");
        expect(isCapflowError(lost?.reason, "STORE_CONFLICT")).toBe(true);
        const history = await owner.instances.history(instances[i]!.id);
        expect(history).toHaveLength(1);
        expect((await owner.instances.getInstance(instances[i]!.id))?.step).toBe(
          (won[0] as PromiseFulfilledResult<InstanceRecord>).value.step,
        );
      }
    });
  },
);
