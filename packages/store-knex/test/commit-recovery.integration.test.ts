import { randomUUID } from "node:crypto";
import {
  type InstanceRecord,
  isCapflowError,
  type NewInstance,
  type Transition,
} from "@capflow/core";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { CapflowDatabase } from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";
import { openThroughProxy, type TcpProxy } from "./support/tcp-proxy.ts";

const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

function newInstance(): NewInstance {
  return {
    id: randomUUID(),
    channel: "lanbank",
    behavior: "loan",
    businessKey: `L-${randomUUID()}`,
    behaviorVersion: 1,
    inputDigest: "d1",
    input: {},
    step: "apply",
    status: "active",
    context: {},
    snapshot: null,
    nextRunAt: t0,
    now: t0,
  };
}

function transition(instance: InstanceRecord, step: string) {
  return {
    instanceId: instance.id,
    expectedVersion: instance.version,
    now: t0 + 1,
    changes: { step },
    log: {
      step: instance.step,
      attempt: 1,
      event: "transition" as const,
      startedAt: t0,
      durationMs: 1,
    },
  };
}

/** A flow-control refusal's commit: the reschedule with its run, and no history entry. */
function refusal(instance: InstanceRecord, at: number): Transition {
  return {
    instanceId: instance.id,
    expectedVersion: instance.version,
    now: at,
    changes: {
      nextRunAt: at + 1_000,
      refusals: {
        step: "apply",
        attempt: 0,
        reason: "circuit-open",
        count: 1,
        reasons: { "circuit-open": 1 },
        firstAt: at,
        lastAt: at,
      },
    },
  };
}

/** Waits until `check` holds (vitest's `expect.poll`), naming what it waited for if it never does. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  await expect.poll(check, { message: `waiting for ${what}`, interval: 10 }).toBe(true);
}

describe.skipIf(!databaseUrl)(
  databaseUrl ? "commitTransition when the connection is lost mid-commit" : skipMessage,
  () => {
    let direct: Awaited<ReturnType<typeof openTestPostgres>>;
    let proxy: TcpProxy;
    let proxied: CapflowDatabase;

    beforeAll(async () => {
      direct = await openTestPostgres();
      ({ proxy, proxied } = await openThroughProxy(direct, databaseUrl!, 2));
    });
    afterAll(async () => {
      await proxied.close();
      await proxy.close();
      await direct.drop();
    });

    const versionOf = async (id: string) => (await direct.instances.getInstance(id))?.version;

    test("committed but the reply was lost: recognised as committed, not retried", async () => {
      const { instance } = await proxied.instances.createInstance(newInstance());
      proxy.mode = "dropResponses";
      const committing = proxied.instances.commitTransition(transition(instance, "query"));
      await eventually(async () => (await versionOf(instance.id)) === 2, "the commit to land");
      proxy.cutAll();
      proxy.mode = "pass";
      const committed = await committing;
      expect(committed).toMatchObject({ id: instance.id, version: 2, step: "query" });
      expect(await direct.instances.history(instance.id)).toHaveLength(1);
    });

    test("a group commit whose reply was lost: each recognised as committed, with one look on the server and one read for all", async () => {
      const instances = await Promise.all(
        Array.from(
          { length: 6 },
          async () => (await proxied.instances.createInstance(newInstance())).instance,
        ),
      );
      const recoveryQueries: string[] = [];
      const onQuery = (query: { sql: string }) => {
        if (/pg_stat_activity|committed_log/.test(query.sql)) recoveryQueries.push(query.sql);
      };
      proxied.knex.on("query", onQuery);
      try {
        proxy.mode = "dropResponses";
        // Submitted in one turn: one group commit statement for all six.
        const committing = Promise.all(
          instances.map((instance) =>
            proxied.instances.commitTransition(transition(instance, "query")),
          ),
        );
        await eventually(
          async () =>
            (await Promise.all(instances.map((i) => versionOf(i.id)))).every((v) => v === 2),
          "the group commit to land",
        );
        proxy.cutAll();
        proxy.mode = "pass";
        const committed = await committing;
        expect(committed.map((record) => [record.version, record.step])).toEqual(
          instances.map(() => [2, "query"]),
        );
      } finally {
        proxied.knex.off("query", onQuery);
      }
      for (const instance of instances) {
        expect(await direct.instances.history(instance.id)).toHaveLength(1);
      }
      expect(recoveryQueries.filter((sql) => sql.includes("pg_stat_activity"))).toHaveLength(1);
      expect(recoveryQueries.filter((sql) => sql.includes("committed_log"))).toHaveLength(1);
    });

    test("a refusal committed but its reply lost: recognised by the run it left on the row", async () => {
      const { instance } = await proxied.instances.createInstance(newInstance());
      proxy.mode = "dropResponses";
      const committing = proxied.instances.commitTransition(refusal(instance, t0 + 5));
      await eventually(async () => (await versionOf(instance.id)) === 2, "the commit to land");
      proxy.cutAll();
      proxy.mode = "pass";
      const committed = await committing;
      expect(committed).toMatchObject({ version: 2, refusals: { count: 1, lastAt: t0 + 5 } });
      expect(await direct.instances.history(instance.id)).toEqual([]);
    });

    test("a refusal lost while another worker's refusal took the version: STORE_CONFLICT", async () => {
      const { instance } = await proxied.instances.createInstance(newInstance());
      proxy.mode = "dropRequests";
      const outcome = proxied.instances.commitTransition(refusal(instance, t0 + 5)).then(
        () => undefined,
        (error: unknown) => error,
      );
      await direct.instances.commitTransition(refusal(instance, t0 + 7));
      proxy.cutAll();
      proxy.mode = "pass";
      expect(isCapflowError(await outcome, "STORE_CONFLICT")).toBe(true);
      expect((await direct.instances.getInstance(instance.id))?.refusals?.lastAt).toBe(t0 + 7);
    });

    test("never reached the server: a retryable error, and the retry succeeds", async () => {
      const { instance } = await proxied.instances.createInstance(newInstance());
      proxy.mode = "dropRequests";
      const committing = proxied.instances.commitTransition(transition(instance, "query"));
      const outcome = committing.then(
        () => undefined,
        (error: unknown) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      proxy.cutAll();
      proxy.mode = "pass";
      const error = await outcome;
      expect(isCapflowError(error, "STORE_CONNECTION_LOST")).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      expect(await versionOf(instance.id)).toBe(1);
      const retried = await proxied.instances.commitTransition(transition(instance, "query"));
      expect(retried.version).toBe(2);
    });

    test("lost, and meanwhile another worker moved the instance: STORE_CONFLICT", async () => {
      const { instance } = await proxied.instances.createInstance(newInstance());
      proxy.mode = "dropRequests";
      const outcome = proxied.instances.commitTransition(transition(instance, "mine")).then(
        () => undefined,
        (error: unknown) => error,
      );
      await direct.instances.commitTransition(transition(instance, "theirs"));
      proxy.cutAll();
      proxy.mode = "pass";
      expect(isCapflowError(await outcome, "STORE_CONFLICT")).toBe(true);
      expect((await direct.instances.getInstance(instance.id))?.step).toBe("theirs");
    });

    test("the connection is cut while the commit waits for a row lock: the server's copy is ended before 'not committed' is said", async () => {
      const { instance } = await direct.instances.createInstance(newInstance());
      const blocker = await direct.knex.transaction();
      let error: unknown;
      try {
        await blocker.raw(
          `UPDATE "${direct.schema}".instances SET attempt = attempt WHERE id = ?`,
          [instance.id],
        );
        const outcome = proxied.instances.commitTransition(transition(instance, "query")).then(
          () => undefined,
          (e: unknown) => e,
        );
        await eventually(async () => {
          const { rows } = await direct.knex.raw(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%step_logs%' AND datname = current_database()`,
          );
          return rows.length > 0;
        }, "the commit to wait for the lock");
        // The client loses the connection; the server, waiting on the lock, does not notice.
        proxy.cutAll();
        error = await outcome;
      } finally {
        await blocker.rollback();
      }
      expect(isCapflowError(error, "STORE_CONNECTION_LOST")).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      // The lock is free now: a statement left running on the server would commit at this point.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await versionOf(instance.id)).toBe(1);
      const retried = await proxied.instances.commitTransition(transition(instance, "query"));
      expect(retried.version).toBe(2);
    });

    /**
     * Two instances' commits go as one group commit through the proxy while `block` holds a lock
     * they need; once `waiting` sees the statement wait on the server, the client's connection
     * is cut. Both must come back as a retryable STORE_CONNECTION_LOST, and neither may commit
     * once the lock is free (the server's copy was ended).
     */
    async function cutGroupCommitWhileBlocked(
      block: (blocker: Knex.Transaction, first: InstanceRecord) => Promise<unknown>,
      waiting: string,
      what: string,
    ): Promise<InstanceRecord[]> {
      const instances = await Promise.all(
        [newInstance(), newInstance()].map(
          async (n) => (await direct.instances.createInstance(n)).instance,
        ),
      );
      const blocker = await direct.knex.transaction();
      let errors: unknown[];
      try {
        await block(blocker, instances[0]!);
        // Submitted in one turn: one group commit statement (prepared) for both.
        const outcomes = instances.map((instance) =>
          proxied.instances.commitTransition(transition(instance, "query")).then(
            () => undefined,
            (e: unknown) => e,
          ),
        );
        await eventually(async () => {
          const { rows } = await direct.knex.raw(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
               AND datname = current_database() AND ${waiting}`,
          );
          return rows.length > 0;
        }, what);
        proxy.cutAll();
        errors = await Promise.all(outcomes);
      } finally {
        await blocker.rollback();
      }
      for (const error of errors) {
        expect(isCapflowError(error, "STORE_CONNECTION_LOST")).toBe(true);
        expect((error as { retryable: boolean }).retryable).toBe(true);
      }
      // The lock is free now: a statement left running on the server would commit at this point.
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const instance of instances) expect(await versionOf(instance.id)).toBe(1);
      return instances;
    }

    test("a group commit cut while it waits for a row lock: found by its application name and ended, none committed", async () => {
      const instances = await cutGroupCommitWhileBlocked(
        (blocker, first) =>
          blocker.raw(`UPDATE "${direct.schema}".instances SET attempt = attempt WHERE id = ?`, [
            first.id,
          ]),
        "application_name LIKE 'capflow commit %'",
        "the group commit to wait for the lock under its own application name",
      );
      const retried = await Promise.all(
        instances.map((instance) =>
          proxied.instances.commitTransition(transition(instance, "query")),
        ),
      );
      expect(retried.map((record) => record.version)).toEqual([2, 2]);
    });

    test("a group commit cut while it waits for a table lock, before it names itself: found by its backend and ended, none committed", async () => {
      // A migration's ALTER TABLE, say: the commit waits for the table before running any of it,
      // still under the connection's own name: only its backend's pid tells it from anyone else's.
      await cutGroupCommitWhileBlocked(
        (blocker) => blocker.raw(`LOCK TABLE "${direct.schema}".instances IN SHARE MODE`),
        "query LIKE '/* capflow commit: group */%' AND application_name = 'capflow'",
        "the group commit to wait for the table lock under the connection's own name",
      );
    });

    test("the backend is terminated while the commit waits for a row lock: not committed, retryable", async () => {
      const { instance } = await direct.instances.createInstance(newInstance());
      const blocker = await direct.knex.transaction();
      try {
        await blocker.raw(
          `UPDATE "${direct.schema}".instances SET attempt = attempt WHERE id = ?`,
          [instance.id],
        );
        const outcome = direct.instances.commitTransition(transition(instance, "query")).then(
          () => undefined,
          (error: unknown) => error,
        );
        let pid: number | undefined;
        await eventually(async () => {
          const { rows } = await direct.knex.raw(
            `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%step_logs%' AND datname = current_database()`,
          );
          pid = rows[0]?.pid;
          return pid !== undefined;
        }, "the commit to wait for the lock");
        await direct.knex.raw("SELECT pg_terminate_backend(?)", [pid!]);
        const error = await outcome;
        expect(isCapflowError(error, "STORE_CONNECTION_LOST")).toBe(true);
        expect((error as { retryable: boolean }).retryable).toBe(true);
      } finally {
        await blocker.rollback();
      }
      expect(await versionOf(instance.id)).toBe(1);
    });
  },
);
