import { randomUUID } from "node:crypto";
import type { InstanceRecord, Transition } from "@capflow/core";
import pg from "pg";
import { Bench } from "tinybench";
import { commitStatement } from "../src/commit-statement.ts";
import { type CapflowDatabase, openPgliteStore, openPostgresStore } from "../src/index.ts";
import { qualifiedNames } from "../src/sql-names.ts";

/**
 * Store throughput on the hot path.
 *
 * - Transitions committed per second through `KnexInstanceStore.commitTransition` (16 in flight,
 *   each on its own instance) next to raw `pg` doing what a hand-written worker does for the same
 *   transition: BEGIN; UPDATE … WHERE version = ?; INSERT step log; COMMIT (16 in flight, a pool of
 *   16). Target: the store at >= 70% of raw pg. A third task runs the store's own single-statement
 *   SQL on raw pg, to separate knex's overhead from the SQL's shape.
 * - The same transition as a knex transaction of two statements (BEGIN; UPDATE; INSERT; COMMIT
 *   through knex), to show what the single statement saves.
 * - Claims: 10 instances per iteration, as one `claimDue(limit 10)` or as ten `claimDue(limit 1)`,
 *   from a table of due instances; claimed ones are settled between iterations (not timed).
 *
 * Without DATABASE_URL, the store is measured on in-memory PGlite only (no raw pg baseline).
 */
const inFlight = 16;
const databaseUrl = process.env.DATABASE_URL;

const commitTask = `store: commit transition (${inFlight} in flight)`;
const rawTask = `raw pg: BEGIN; UPDATE; INSERT; COMMIT (${inFlight} in flight)`;
const rawCteTask = `raw pg: the store's one-statement commit (${inFlight} in flight)`;
const knexTxTask = `knex: transaction with UPDATE; INSERT (${inFlight} in flight)`;
const claimBatchTask = "store: claim 10 due as one claimDue(limit 10)";
const claimSingleTask = "store: claim 10 due as ten claimDue(limit 1)";

export const comparisons = databaseUrl
  ? [
      { measured: commitTask, baseline: rawTask, atLeast: 0.7 },
      { measured: commitTask, baseline: rawCteTask },
      { measured: commitTask, baseline: knexTxTask },
      { measured: claimBatchTask, baseline: claimSingleTask },
    ]
  : [
      { measured: commitTask, baseline: knexTxTask },
      { measured: claimBatchTask, baseline: claimSingleTask },
    ];

const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

/**
 * Commits wait on the disk's fsync, whose speed drifts over seconds: three rounds, and the
 * median of the per-round ratios.
 */
export const rounds = 3;

let cleanup: (() => Promise<void>) | undefined;

export async function teardown(): Promise<void> {
  await cleanup?.();
}

export default async function storeBench(): Promise<Bench> {
  let db: CapflowDatabase;
  let raw: pg.Pool | undefined;
  let schema: string;
  if (databaseUrl) {
    schema = `capflow_bench_${randomUUID().slice(0, 8)}`;
    db = openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: inFlight } });
    raw = new pg.Pool({ connectionString: databaseUrl, max: inFlight });
  } else {
    console.log(
      "store.bench: DATABASE_URL is not set; measuring PGlite (in memory) only. Set DATABASE_URL=postgres://… to compare with raw pg.",
    );
    schema = "capflow";
    db = await openPgliteStore();
  }
  await db.migrate();
  const t = qualifiedNames(schema);

  // Instances for the commit tasks (one per in-flight slot and task) and 2,000 due for claims.
  const create = (key: string, nextRunAt: number | null) =>
    db.instances.createInstance({
      id: randomUUID(),
      channel: "bench",
      behavior: "loan",
      businessKey: key,
      behaviorVersion: 1,
      inputDigest: "d",
      input: { amount: "1000.00" },
      step: "apply",
      status: "active",
      context: {},
      snapshot: null,
      nextRunAt,
      now: t0,
    });
  const storeSlots: InstanceRecord[] = [];
  const rawSlots: { id: string; version: number }[] = [];
  const rawCteSlots: InstanceRecord[] = [];
  const knexTxSlots: { id: string; version: number }[] = [];
  for (let i = 0; i < inFlight; i++) {
    storeSlots.push((await create(`store-${i}`, null)).instance);
    const r = (await create(`raw-${i}`, null)).instance;
    rawSlots.push({ id: r.id, version: r.version });
    rawCteSlots.push((await create(`cte-${i}`, null)).instance);
    const k = (await create(`knex-tx-${i}`, null)).instance;
    knexTxSlots.push({ id: k.id, version: k.version });
  }
  // Due work for the claims: each row is claimed once (the lease outlasts the run), as fresh due
  // instances are in production. Re-claiming a few rows over and over would instead measure a
  // growing pile of dead row versions.
  await db.knex.raw(
    `INSERT INTO ${t.instances} (id, channel, behavior, behavior_version, business_key, input,
       input_digest, step, status, context, snapshot, next_run_at, created_at, updated_at)
     SELECT 'claim-' || n, 'bench', 'loan', 1, 'C-' || n, '{}', 'd', 'apply', 'active', '{}', 'null',
       to_timestamp(? / 1000.0) - n * interval '1 millisecond', now(), now()
     FROM generate_series(1, ?::int) AS n`,
    [t0, databaseUrl ? 150_000 : 30_000],
  );
  await db.knex.raw(`ANALYZE ${t.instances}`);
  // Flush the set-up's WAL now, or a checkpoint it triggers lands on the first task measured.
  if (databaseUrl) await db.knex.raw("CHECKPOINT").catch(() => {});

  let clock = t0;
  const transition = (instance: InstanceRecord): Transition & Required<Pick<Transition, "log">> => {
    clock += 1;
    return {
      instanceId: instance.id,
      expectedVersion: instance.version,
      now: clock,
      changes: {
        step: "query",
        context: { apply: { applyNo: `A${clock}`, status: "processing" } },
        nextRunAt: clock + 15_000,
      },
      log: {
        step: "apply",
        attempt: 1,
        event: "call",
        outcome: "processing",
        request: { method: "POST", path: "/loan/apply", body: { amount: 100000 } },
        response: { status: 200, body: { code: "0000", applyNo: `A${clock}` } },
        startedAt: clock,
        durationMs: 12,
      },
    };
  };

  // The store's own statement, compiled to pg's `$n` form, for the raw pg run of the same SQL.
  const cteFor = (tr: Transition) => {
    const { sql, bindings } = commitStatement(t, tr, randomUUID());
    const native = db.knex
      .raw(sql, bindings as never)
      .toSQL()
      .toNative();
    return { sql: native.sql, bindings: native.bindings as unknown[] };
  };

  cleanup = async () => {
    if (databaseUrl) await db.knex.raw(`DROP SCHEMA IF EXISTS ${t.schema} CASCADE`);
    await db.close();
    await raw?.end();
  };
  const bench = new Bench({ name: "store-knex", time: 1500, warmupTime: 300, iterations: 20 });
  bench.add(commitTask, async () => {
    await Promise.all(
      storeSlots.map(async (instance, i) => {
        storeSlots[i] = await db.instances.commitTransition(transition(instance));
      }),
    );
  });
  if (raw) {
    const pool = raw;
    bench.add(rawTask, async () => {
      await Promise.all(
        rawSlots.map(async (slot) => {
          const tr = transition({ id: slot.id, version: slot.version } as InstanceRecord);
          const client = await pool.connect();
          try {
            await client.query("BEGIN");
            const updated = await client.query(
              `UPDATE ${t.instances} SET step = $1, context = $2::jsonb, next_run_at = $3,
                 version = version + 1, updated_at = $4, lease_owner = NULL, lease_until = NULL
               WHERE id = $5 AND version = $6 RETURNING *`,
              [
                tr.changes.step,
                JSON.stringify(tr.changes.context),
                new Date(tr.changes.nextRunAt!),
                new Date(tr.now),
                slot.id,
                slot.version,
              ],
            );
            if (updated.rowCount !== 1) throw new Error("lost the compare-and-set");
            await client.query(
              `INSERT INTO ${t.stepLogs} (id, instance_id, version, step, attempt, event, outcome,
                 request, response, started_at, duration_ms)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11)`,
              [
                randomUUID(),
                slot.id,
                slot.version + 1,
                tr.log.step,
                tr.log.attempt,
                tr.log.event,
                tr.log.outcome,
                JSON.stringify(tr.log.request),
                JSON.stringify(tr.log.response),
                new Date(tr.log.startedAt),
                tr.log.durationMs,
              ],
            );
            await client.query("COMMIT");
            slot.version += 1;
          } catch (error) {
            await client.query("ROLLBACK");
            throw error;
          } finally {
            client.release();
          }
        }),
      );
    });
    bench.add(rawCteTask, async () => {
      await Promise.all(
        rawCteSlots.map(async (instance, i) => {
          const { sql, bindings } = cteFor(transition(instance));
          const result = await pool.query(sql, bindings);
          if (result.rowCount !== 1) throw new Error("lost the compare-and-set");
          rawCteSlots[i] = { ...instance, version: instance.version + 1 };
        }),
      );
    });
  }
  // What the store would cost as a knex transaction of two statements instead of one statement.
  bench.add(knexTxTask, async () => {
    await Promise.all(
      knexTxSlots.map(async (slot) => {
        const tr = transition({ id: slot.id, version: slot.version } as InstanceRecord);
        await db.knex.transaction(async (trx) => {
          const updated = await trx.raw(
            `UPDATE ${t.instances} SET step = ?, context = ?::jsonb, next_run_at = ?,
               version = version + 1, updated_at = ?, lease_owner = NULL, lease_until = NULL
             WHERE id = ? AND version = ? RETURNING *`,
            [
              tr.changes.step!,
              JSON.stringify(tr.changes.context),
              new Date(tr.changes.nextRunAt!),
              new Date(tr.now),
              slot.id,
              slot.version,
            ],
          );
          if (updated.rowCount !== 1) throw new Error("lost the compare-and-set");
          await trx.raw(
            `INSERT INTO ${t.stepLogs} (id, instance_id, version, step, attempt, event, outcome,
               request, response, started_at, duration_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?)`,
            [
              randomUUID(),
              slot.id,
              slot.version + 1,
              tr.log.step,
              tr.log.attempt,
              tr.log.event,
              tr.log.outcome!,
              JSON.stringify(tr.log.request),
              JSON.stringify(tr.log.response),
              new Date(tr.log.startedAt),
              tr.log.durationMs,
            ],
          );
        });
        slot.version += 1;
      }),
    );
  });
  // After each iteration (outside the timed part) the claimed instances are settled, as workers
  // would settle or reschedule them: the due index then holds due work only, the steady state.
  const claimedIds: string[] = [];
  const claim = async (limit: number) => {
    const claimed = await db.instances.claimDue({
      owner: "bench",
      now: t0,
      leaseMs: 3_600_000,
      limit,
      channels: ["bench"],
    });
    if (claimed.length !== limit) throw new Error(`claimed ${claimed.length}, not ${limit}`);
    for (const instance of claimed) claimedIds.push(instance.id);
  };
  const settleClaimed = async () => {
    const ids = claimedIds.splice(0);
    await db.knex.raw(`UPDATE ${t.instances} SET status = 'succeeded' WHERE id = ANY (?::text[])`, [
      ids,
    ]);
  };
  bench.add(claimBatchTask, () => claim(10), { afterEach: settleClaimed });
  bench.add(
    claimSingleTask,
    async () => {
      for (let i = 0; i < 10; i++) await claim(1);
    },
    { afterEach: settleClaimed },
  );
  return bench;
}
