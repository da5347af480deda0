import { randomUUID } from "node:crypto";
import {
  type InstanceRecord,
  isCapflowError,
  type NewInstance,
  type NewStepLogEntry,
  type Transition,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { type CapflowDatabase, KnexInstanceStore, openPostgresStore } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

function newInstance(): NewInstance {
  return {
    id: randomUUID(),
    channel: "lanbank",
    behavior: "loan",
    businessKey: `L-${randomUUID()}`,
    behaviorVersion: 1,
    inputDigest: "d1",
    input: { amount: "1000.00" },
    step: "apply",
    status: "active",
    context: {},
    snapshot: { value: "apply" },
    nextRunAt: t0,
    now: t0,
  };
}

function move(
  instance: InstanceRecord,
  step: string,
  context: Record<string, unknown> = {},
): Transition {
  return {
    instanceId: instance.id,
    expectedVersion: instance.version,
    now: t0 + 1,
    changes: { step, context },
    log: { step: instance.step, attempt: 1, event: "transition", startedAt: t0, durationMs: 1 },
  };
}

/** Lets a commit submitted in this turn of the event loop go (group commit sends at its end). */
const sent = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Counts the commit statements a store sends, on the pooled connections knex lends out: through
 * knex itself, or on a connection the store borrows (which knex's `query` event does not see).
 */
function countCommitStatements(db: CapflowDatabase, into: () => string[]): () => void {
  const client = db.knex.client as {
    acquireConnection(): Promise<{ query: (...args: unknown[]) => unknown }>;
  };
  const acquire = client.acquireConnection;
  const counted = new WeakSet<object>();
  client.acquireConnection = async function (this: unknown) {
    const connection = await acquire.call(this);
    if (!counted.has(connection)) {
      counted.add(connection);
      const query = connection.query;
      connection.query = function (this: unknown, ...args: unknown[]) {
        const text = (args[0] as { text?: string } | undefined)?.text;
        if (text?.includes("capflow commit")) into().push(text);
        return query.apply(this, args);
      };
    }
    return connection;
  };
  return () => {
    client.acquireConnection = acquire;
  };
}

describe.skipIf(!databaseUrl).each([
  { endsOrphanedCommits: false, preparedStatements: false, mode: "through knex" },
  { endsOrphanedCommits: true, preparedStatements: false, mode: "on a borrowed connection" },
  { endsOrphanedCommits: true, preparedStatements: true, mode: "as a prepared statement" },
])(
  databaseUrl ? "group commit on PostgreSQL, $mode" : skipMessage,
  ({ endsOrphanedCommits, preparedStatements }) => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    /** One commit statement in flight: what arrives meanwhile goes together in the next one. */
    let store: KnexInstanceStore;
    let statements: string[];
    let stopCounting: () => void;

    beforeAll(async () => {
      db = await openTestPostgres();
      stopCounting = countCommitStatements(db, () => statements);
    });
    afterAll(async () => {
      stopCounting();
      await db.drop();
    });
    beforeEach(async () => {
      await truncateRuntimeTables(db);
      store = new KnexInstanceStore(db.knex, {
        schema: db.schema,
        groupCommit: { statements: 1 },
        endsOrphanedCommits,
        preparedStatements,
      });
      statements = [];
    });

    async function created(n: number): Promise<InstanceRecord[]> {
      const records: InstanceRecord[] = [];
      for (let i = 0; i < n; i++)
        records.push((await store.createInstance(newInstance())).instance);
      return records;
    }

    test("commits that arrive in one turn of the event loop go together", async () => {
      const instances = await created(5);
      await Promise.all(instances.map((instance) => store.commitTransition(move(instance, "s"))));
      expect(statements).toHaveLength(1);
    });

    test("commits that arrive while one is in flight go together, each with its history", async () => {
      const instances = await created(5);
      const first = store.commitTransition(move(instances[0]!, "s0"));
      await sent();
      const results = [
        await first,
        ...(await Promise.all(
          instances
            .slice(1)
            .map((instance, i) => store.commitTransition(move(instance, `s${i + 1}`))),
        )),
      ];
      // The first went alone; the four that arrived while it was in flight went as one.
      expect(statements).toHaveLength(2);
      for (const [i, result] of results.entries()) {
        expect(result.id).toBe(instances[i]!.id);
        expect(result.version).toBe(2);
        expect(result.step).toBe(`s${i}`);
        const history = await store.history(result.id);
        expect(history.map((entry) => entry.version)).toEqual([2]);
      }
    });

    test("each instance keeps its own compare-and-set: a stale one conflicts, the others commit", async () => {
      const instances = await created(4);
      const stale = instances[2]!;
      await store.commitTransition(move(stale, "elsewhere"));
      statements = [];
      const outcomes = await Promise.allSettled(
        instances.map((instance) => store.commitTransition(move(instance, "next"))),
      );
      expect(statements).toHaveLength(1);
      for (const [i, outcome] of outcomes.entries()) {
        if (i === 2) {
          expect(outcome.status).toBe("rejected");
          expect(
            isCapflowError(outcome.status === "rejected" && outcome.reason, "STORE_CONFLICT"),
          ).toBe(true);
        } else {
          expect(outcome.status).toBe("fulfilled");
        }
      }
      expect((await store.getInstance(stale.id))?.step).toBe("elsewhere");
      expect(await store.history(stale.id)).toHaveLength(1);
    });

    test("refusals group with other commits: each counts on its row, and a run ends in its own history", async () => {
      const instances = await created(4);
      const refuse = (instance: InstanceRecord, count: number, at: number): Transition => ({
        instanceId: instance.id,
        expectedVersion: instance.version,
        now: at,
        changes: {
          nextRunAt: at + 1_000,
          refusals: {
            step: "apply",
            attempt: 0,
            reason: "circuit-open",
            count,
            reasons: { "circuit-open": count },
            firstAt: t0 + 10,
            lastAt: at,
          },
        },
      });
      // Instances 0 and 1 are refused twice, 2 and 3 move, all in flight together.
      let records = await Promise.all(
        instances.map((instance, i) =>
          store.commitTransition(i < 2 ? refuse(instance, 1, t0 + 10) : move(instance, "next")),
        ),
      );
      records = await Promise.all(
        records.map((record, i) =>
          store.commitTransition(i < 2 ? refuse(record, 2, t0 + 20) : move(record, "after")),
        ),
      );
      // Each round in one statement (the batch as one JSON array).
      expect(statements).toHaveLength(2);
      expect(statements[1]).toContain("jsonb_array_elements");
      expect(records.map((record) => record.refusals?.count ?? null)).toEqual([2, 2, null, null]);
      // Instance 0 moves on alone, 1 together with a move of 2: both end their run.
      statements = [];
      const alone = store.commitTransition(move(records[0]!, "next"));
      await sent();
      const [moved0, moved1] = await Promise.all([
        alone,
        store.commitTransition(move(records[1]!, "next")),
        store.commitTransition(move(records[2]!, "again")),
      ]);
      expect(statements).toHaveLength(2);
      for (const moved of [moved0!, moved1!]) {
        expect(moved.refusals).toBeNull();
        const history = await store.history(moved.id);
        expect(history.map((entry) => [entry.version, entry.event, entry.refusals?.count])).toEqual(
          [
            [3, "wait", 2],
            [4, "transition", undefined],
          ],
        );
      }
      expect((await store.history(records[2]!.id)).map((entry) => entry.event)).toEqual([
        "transition",
        "transition",
        "transition",
      ]);
    });

    test("a value the database refuses fails its own commit only", async () => {
      const instances = await created(4);
      const outcomes = await Promise.allSettled(
        instances.map((instance, i) =>
          // PostgreSQL's jsonb refuses \u0000.
          store.commitTransition(move(instance, "next", i === 3 ? { bad: "\u0000" } : {})),
        ),
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        "fulfilled",
        "fulfilled",
        "fulfilled",
        "rejected",
      ]);
      const refused = await store.getInstance(instances[3]!.id);
      expect(refused?.version).toBe(1);
      expect(await store.history(instances[3]!.id)).toHaveLength(0);
    });

    test("two commits of one instance never share a statement: the second follows the first", async () => {
      const [instance, other] = await created(2);
      const first = store.commitTransition(move(instance!, "a"));
      // Built for the version the first commit makes: valid only after it.
      const second = store.commitTransition({ ...move(instance!, "b"), expectedVersion: 2 });
      const third = store.commitTransition(move(other!, "c"));
      await expect(first).resolves.toMatchObject({ version: 2, step: "a" });
      await expect(second).resolves.toMatchObject({ version: 3, step: "b" });
      await expect(third).resolves.toMatchObject({ version: 2, step: "c" });
      // The first together with the third; the second once the first was back.
      expect(statements).toHaveLength(2);
    });

    test("same-version commits of one instance: exactly one wins", async () => {
      const [instance] = await created(1);
      const outcomes = await Promise.allSettled(
        ["a", "b", "c"].map((step) => store.commitTransition(move(instance!, step))),
      );
      expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
      expect(await store.history(instance!.id)).toHaveLength(1);
    });

    test("a grouped commit writes the same row and history as a commit alone", async () => {
      const alone = new KnexInstanceStore(db.knex, {
        schema: db.schema,
        groupCommit: false,
        endsOrphanedCommits,
        preparedStatements,
      });
      // Each transition exercises other columns: set and cleared, kept, and the waiting rule.
      const variants = (instance: InstanceRecord): Transition[] => {
        const base = move(instance, "apply");
        const entry: NewStepLogEntry = {
          step: instance.step,
          attempt: 1,
          event: "transition",
          startedAt: t0,
          durationMs: 1,
        };
        return [
          base,
          {
            ...base,
            changes: {
              attempt: 2,
              inFlight: { step: "apply", attempt: 2, serial: "S-1", startedAt: t0 },
            },
            keepLease: true,
            leaseUntil: t0 + 90_000,
            keepUpdatedAt: true,
            log: { ...entry, event: "intent", outcome: "sending" },
          },
          {
            ...base,
            changes: { step: "query", inFlight: null, lastError: { code: "X", message: "m" } },
            log: { ...entry, event: "transition", fromStep: "apply", toStep: "query" },
          },
          {
            ...base,
            changes: { status: "waiting", waitingFor: "notify", nextRunAt: t0 + 60_000 },
            log: { ...entry, event: "transition", toStatus: "waiting" },
          },
          {
            ...base,
            changes: { status: "waiting", waitingFor: "other", nextRunAt: t0 + 60_000 },
            log: { ...entry, event: "transition", toStatus: "waiting" },
          },
          {
            ...base,
            changes: {
              status: "succeeded",
              behaviorVersion: 2,
              snapshot: { value: "done" },
              context: { n: 1, list: [1, "2", null] },
              nextRunAt: null,
              lastError: null,
            },
            log: {
              ...entry,
              event: "transition",
              fromStep: "apply",
              toStep: "done",
              fromStatus: "active",
              toStatus: "succeeded",
              outcome: "succeeded",
              request: { body: { amount: "1000.00" } },
              response: { status: "SUCCESS" },
              raw: { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", data: "cmF3" },
              error: { code: "E", message: "kept" },
              actor: { who: "ops", why: "test" },
              interface: "apply",
              durationMs: 12.5,
            },
          },
          // Holds a run of refusals (committed before): its summary goes in before this entry.
          base,
          // A refusal: no entry, the run on the row.
          {
            instanceId: instance.id,
            expectedVersion: instance.version,
            now: t0 + 30,
            changes: { nextRunAt: t0 + 1_000, refusals: refusalRun(t0 + 30) },
          },
        ];
      };
      const refusalRun = (at: number) => ({
        step: "apply",
        attempt: 0,
        reason: "bulkhead",
        count: 3,
        reasons: { bulkhead: 2, rate: 1 },
        firstAt: t0 + 10,
        lastAt: at,
      });
      const writeAll = async (via: KnexInstanceStore) => {
        const instances = await created(8);
        const refused = instances[6]!;
        await via.commitTransition({
          instanceId: refused.id,
          expectedVersion: refused.version,
          now: t0 + 20,
          changes: { nextRunAt: t0, refusals: refusalRun(t0 + 20) },
        });
        for (const instance of instances) {
          // A callback the instance will wait for, already in the inbox: due at once.
          await store.insertInbox({
            id: randomUUID(),
            channel: instance.channel,
            callback: "notify",
            dedupeKey: randomUUID(),
            businessKey: instance.businessKey,
            payload: {},
            receivedAt: t0,
          });
        }
        await via.claimDue({ owner: "w1", now: t0, leaseMs: 30_000, limit: 100 });
        const claimed = await Promise.all(instances.map((i) => via.getInstance(i.id)));
        statements = [];
        const results = await Promise.all(
          claimed.map((instance, i) => via.commitTransition(variants(instance!)[i]!)),
        );
        const rows = await Promise.all(results.map((r) => via.getInstance(r.id)));
        const logs = await Promise.all(results.map((r) => via.history(r.id)));
        const strip = ({ id: _, businessKey: __, ...rest }: InstanceRecord) => rest;
        return {
          statements: statements.length,
          rows: rows.map((row) => strip(row!)),
          logs: logs.map((entries) => entries.map(({ id: _, instanceId: __, ...rest }) => rest)),
          results: results.map(strip),
        };
      };
      const one = await writeAll(alone);
      await truncateRuntimeTables(db);
      const grouped = await writeAll(store);
      // Alone: one statement each; grouped: all eight together.
      expect(one.statements).toBe(8);
      expect(grouped.statements).toBe(1);
      expect(grouped.rows).toEqual(one.rows);
      expect(grouped.results).toEqual(one.results);
      expect(grouped.logs).toEqual(one.logs);
      // The waiting rule held in both: a callback already stored makes the instance due now.
      expect(grouped.rows[3]?.nextRunAt).toBe(t0 + 1);
      expect(grouped.rows[4]?.nextRunAt).toBe(t0 + 60_000);
      expect(grouped.logs[6]?.map((entry) => entry.event)).toEqual(["wait", "transition"]);
      expect(grouped.rows[7]?.refusals?.count).toBe(3);
      expect(grouped.logs[7]).toEqual([]);
    });
  },
);

describe.skipIf(!databaseUrl)(
  databaseUrl ? "the prepared group commit on PostgreSQL" : skipMessage,
  () => {
    /** One pooled connection: what the store prepared on it is what this test reads back. */
    let db: Awaited<ReturnType<typeof openTestPostgres>>;

    let statements: string[] = [];
    let stopCounting: () => void;

    beforeAll(async () => {
      db = await openTestPostgres({ pool: { min: 0, max: 1 } });
      stopCounting = countCommitStatements(db, () => statements);
    });
    afterAll(async () => {
      stopCounting();
      await db.drop();
    });

    async function commitTogether(count: number): Promise<InstanceRecord[]> {
      const instances: InstanceRecord[] = [];
      for (let i = 0; i < count; i++) {
        instances.push((await db.instances.createInstance(newInstance())).instance);
      }
      return Promise.all(instances.map((i) => db.instances.commitTransition(move(i, "next"))));
    }

    const preparedCommits = async () =>
      (
        await db.knex.raw(
          "SELECT name FROM pg_prepared_statements WHERE name LIKE 'capflow_group_commit%'",
        )
      ).rows as { name: string }[];

    test("is prepared once on a connection and then only executed", async () => {
      for (let round = 0; round < 3; round++) {
        const committed = await commitTogether(4);
        expect(committed.map((record) => record.version)).toEqual([2, 2, 2, 2]);
      }
      expect(await preparedCommits()).toHaveLength(1);
    });

    test("preparedStatements: false commits together without preparing anything", async () => {
      const unprepared = openPostgresStore({
        connectionString: databaseUrl!,
        schema: db.schema,
        pool: { min: 0, max: 1 },
        preparedStatements: false,
      });
      try {
        const instances: InstanceRecord[] = [];
        for (let i = 0; i < 3; i++) {
          instances.push((await unprepared.instances.createInstance(newInstance())).instance);
        }
        const committed = await Promise.all(
          instances.map((i) => unprepared.instances.commitTransition(move(i, "next"))),
        );
        expect(committed.map((record) => record.version)).toEqual([2, 2, 2]);
        const { rows } = await unprepared.knex.raw(
          "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'capflow_group_commit%'",
        );
        expect(rows[0].n).toBe(0);
      } finally {
        await unprepared.close();
      }
    });

    test("keeps working when a later migration adds a column to instances", async () => {
      await commitTogether(3);
      expect(await preparedCommits()).toHaveLength(1);
      await db.knex.raw(`ALTER TABLE "${db.schema}".instances ADD COLUMN added_later text`);
      try {
        // The same prepared statement, on the same connection, over the altered table: still one
        // statement for the three (a failed group commit would fall back to one each).
        statements = [];
        const committed = await commitTogether(3);
        expect(committed.map((record) => record.step)).toEqual(["next", "next", "next"]);
        expect(statements).toHaveLength(1);
        expect(await preparedCommits()).toHaveLength(1);
      } finally {
        await db.knex.raw(`ALTER TABLE "${db.schema}".instances DROP COLUMN added_later`);
      }
    });

    test("a prepared statement gone from the server (as behind a pooler) turns preparing off", async () => {
      const store = await openTestPostgres({ pool: { min: 0, max: 1 } });
      const stop = countCommitStatements(store, () => statements);
      try {
        const together = async () => {
          const instances: InstanceRecord[] = [];
          for (let i = 0; i < 3; i++) {
            instances.push((await store.instances.createInstance(newInstance())).instance);
          }
          return Promise.all(
            instances.map((i) => store.instances.commitTransition(move(i, "next"))),
          );
        };
        await together();
        // What a pooler in transaction mode does: the next transaction runs on a server connection
        // that never saw the statement, while pg still takes it as prepared.
        await store.knex.raw("DEALLOCATE ALL");
        statements = [];
        expect((await together()).map((record) => record.version)).toEqual([2, 2, 2]);
        expect(statements).toHaveLength(4);
        statements = [];
        expect((await together()).map((record) => record.version)).toEqual([2, 2, 2]);
        expect(statements).toHaveLength(1);
        const { rows } = await store.knex.raw(
          "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'capflow_group_commit%'",
        );
        expect(rows[0].n).toBe(0);
      } finally {
        stop();
        await store.drop();
      }
    });

    test("a migration that changes a returned column's type costs one batch, not every batch", async () => {
      await commitTogether(3);
      const alter = (type: string) =>
        db.knex.raw(`ALTER TABLE "${db.schema}".instances ALTER COLUMN attempt TYPE ${type}`);
      await alter("bigint");
      try {
        // The prepared statement's result type changed: PostgreSQL refuses it. That batch changed
        // nothing and goes again one by one; the statement is prepared afresh for the next.
        statements = [];
        const first = await commitTogether(3);
        expect(first.map((record) => record.step)).toEqual(["next", "next", "next"]);
        expect(statements).toHaveLength(4);
        statements = [];
        const second = await commitTogether(3);
        expect(second.map((record) => [record.step, record.version])).toEqual([
          ["next", 2],
          ["next", 2],
          ["next", 2],
        ]);
        expect(statements).toHaveLength(1);
      } finally {
        await alter("int");
      }
    });
  },
);
