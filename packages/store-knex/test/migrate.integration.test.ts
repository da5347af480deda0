import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, test } from "vitest";
import { openPostgresStore } from "../src/index.ts";
import { migrations } from "../src/migrations/index.ts";
import { databaseUrl, skipMessage, uniqueSchema } from "./support/databases.ts";

describe.skipIf(!databaseUrl)(databaseUrl ? "migrate() on PostgreSQL" : skipMessage, () => {
  const schema = uniqueSchema("capflow_migrate");
  const nodes = Array.from({ length: 4 }, () =>
    openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 2 } }),
  );
  afterAll(async () => {
    await nodes[0]!.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await Promise.all(nodes.map((node) => node.close()));
  });

  test("four nodes migrating a fresh schema at once all succeed; the migrations run once", async () => {
    const results = await Promise.all(nodes.map((node) => node.migrate()));
    const all = migrations.map((migration) => migration.name);
    expect(all.slice(0, 3)).toEqual(["0001_initial", "0002_inbox_stale", "0003_waiting_for"]);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, all.length]);
    expect(results.flatMap((r) => r.applied)).toEqual(all);
    const { rows } = await nodes[0]!.knex.raw(
      `SELECT count(*)::int AS n FROM "${schema}".knex_migrations`,
    );
    expect(rows[0].n).toBe(all.length);
    expect((await nodes[1]!.migrate()).applied).toEqual([]);
  });

  test("a schema at an earlier migration gets only the newer ones", async () => {
    // A database migrated by the release that had only 0001.
    const undo = [
      `ALTER TABLE "${schema}".instances DROP COLUMN waiting_for`,
      `DROP FUNCTION "${schema}".has_pending_callback`,
      `DROP FUNCTION "${schema}".inbox_consumed`,
      `DROP INDEX "${schema}".inbox_stale`,
      `DELETE FROM "${schema}".knex_migrations WHERE name IN ('0002_inbox_stale', '0003_waiting_for')`,
    ];
    for (const statement of undo) await nodes[0]!.knex.raw(statement);
    // An instance of that release waiting at a callback step, and one at a poll step.
    const steps = {
      wait: { kind: "callback", callback: "loan.result" },
      query: { kind: "poll", interface: "loan.query" },
    };
    await nodes[0]!.knex.raw(
      `INSERT INTO "${schema}".behaviors (channel, code, version, definition, digest, active)
       VALUES ('lanbank', 'loan', 1, ?::json, 'd', true)`,
      [JSON.stringify({ channel: "lanbank", code: "loan", initial: "wait", steps })],
    );
    for (const [id, step] of [
      ["I-wait", "wait"],
      ["I-query", "query"],
    ] as const) {
      await nodes[0]!.knex.raw(
        `INSERT INTO "${schema}".instances (id, channel, behavior, behavior_version, business_key,
           input, input_digest, step, status, context, snapshot, next_run_at, created_at, updated_at)
         VALUES (?, 'lanbank', 'loan', 1, ?, '{}', 'd', ?, 'waiting', '{}', '{}', now(), now(), now())`,
        [id, id, step],
      );
    }
    const results = await Promise.all(nodes.map((node) => node.migrate()));
    expect(results.flatMap((r) => r.applied)).toEqual(["0002_inbox_stale", "0003_waiting_for"]);
    const { rows } = await nodes[0]!.knex.raw(
      `SELECT
         (SELECT count(*)::int FROM pg_indexes WHERE schemaname = ? AND indexname = 'inbox_stale') AS indexes,
         (SELECT count(*)::int FROM information_schema.columns
           WHERE table_schema = ? AND table_name = 'instances' AND column_name = 'waiting_for') AS columns`,
      [schema, schema],
    );
    expect(rows[0]).toEqual({ indexes: 1, columns: 1 });
    const waiting = await nodes[0]!.instances.getInstance("I-wait");
    expect(waiting?.waitingFor).toBe("loan.result");
    expect((await nodes[0]!.instances.getInstance("I-query"))?.waitingFor).toBeNull();
  });
});

describe.skipIf(!databaseUrl)(
  databaseUrl ? "migration 0045 beside running workers" : skipMessage,
  () => {
    const schema = uniqueSchema("capflow_retention");
    const db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
    afterAll(async () => {
      await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    });

    test("while its index waits for the inbox, notifications are still written to the outbox", async () => {
      await db.migrate();
      for (const statement of [
        `DROP INDEX "${schema}".inbox_processed`,
        `DROP INDEX "${schema}".queued_starts_closed`,
        `ALTER TABLE "${schema}".outbox DROP COLUMN failed_at`,
        `DELETE FROM "${schema}".knex_migrations WHERE name = '0045_retention'`,
      ]) {
        await db.knex.raw(statement);
      }
      // A callback being stored holds the inbox: the index build waits for it.
      const callback = await db.knex.transaction();
      let migrating: Promise<unknown> | undefined;
      try {
        await callback.raw(
          `INSERT INTO "${schema}".inbox (id, channel, callback, dedupe_key, business_key, payload,
             received_at) VALUES ('E-1', 'shop', 'pay.result', '1', 'O-1', '{}', now())`,
        );
        migrating = db.migrate();
        await expect
          .poll(async () => {
            const { rows } = await db.knex.raw(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                 AND datname = current_database() AND query LIKE '%inbox_processed%'`,
            );
            return rows.length > 0;
          })
          .toBe(true);
        // A step's commit writing its notification meanwhile: not held behind the build.
        await db.knex.transaction(async (commit) => {
          await commit.raw("SET LOCAL lock_timeout = '1s'");
          await commit.raw(
            `INSERT INTO "${schema}".outbox (id, instance_id, type, payload, next_attempt_at,
               created_at) VALUES ('N-1', 'I-1', 'instance.succeeded', '{}', now(), now())`,
          );
        });
      } finally {
        await callback.rollback();
      }
      expect(await migrating).toMatchObject({ applied: ["0045_retention"] });
    });
  },
);

describe.skipIf(!databaseUrl)(
  databaseUrl ? "migration 0034 on an inbox with notifications" : skipMessage,
  () => {
    const schema = uniqueSchema("capflow_inbox_account");
    const db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 2 } });
    const inbox = `"${schema}".inbox`;
    afterAll(async () => {
      await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    });

    /** Back to the schema of 0033, dedupe per (channel, callback, dedupe_key), with some rows. */
    async function atMigration0033(): Promise<void> {
      await db.migrate();
      for (const statement of [
        `DELETE FROM ${inbox}`,
        `DROP INDEX "${schema}".inbox_dedupe_per_account`,
        `ALTER TABLE ${inbox}
           ADD CONSTRAINT inbox_dedupe_per_callback UNIQUE (channel, callback, dedupe_key)`,
        `DELETE FROM "${schema}".knex_migrations WHERE name = '0034_inbox_per_account'`,
      ]) {
        await db.knex.raw(statement);
      }
      for (const [id, account, callback] of [
        ["E-1", "shop-a", "pay.result"],
        ["E-2", null, "refund.result"],
      ] as const) {
        await db.knex.raw(
          `INSERT INTO ${inbox} (id, channel, account, callback, dedupe_key, business_key, payload,
             received_at)
           VALUES (?, 'shop', ?, ?, '1001', 'O-1', '{}', now())`,
          [id, account, callback],
        );
      }
    }

    const notification = (account: string | null, callback: string) => ({
      id: randomUUID(),
      channel: "shop",
      account,
      callback,
      dedupeKey: "1001",
      businessKey: "O-1",
      payload: {},
      receivedAt: Date.now(),
    });

    async function expectDedupePerAccount(): Promise<void> {
      const store = db.instances;
      expect((await store.insertInbox(notification("shop-b", "pay.result"))).duplicate).toBe(false);
      const again = await store.insertInbox(notification("shop-a", "pay.result"));
      expect(again).toMatchObject({ duplicate: true, entry: { id: "E-1" } });
      const none = await store.insertInbox(notification(null, "refund.result"));
      expect(none).toMatchObject({ duplicate: true, entry: { id: "E-2" } });
      const { rows } = await db.knex.raw(
        `SELECT conname FROM pg_constraint WHERE conrelid = ?::regclass AND contype = 'u'`,
        [inbox],
      );
      expect(rows).toEqual([]);
    }

    test("existing entries stay and keep their duplicates; another account's number is its own", async () => {
      await atMigration0033();
      expect((await db.migrate()).applied).toEqual(["0034_inbox_per_account"]);
      await expectDedupePerAccount();
    });

    test("an index built beforehand with CREATE INDEX CONCURRENTLY is kept", async () => {
      await atMigration0033();
      await db.knex.raw(
        `CREATE UNIQUE INDEX CONCURRENTLY inbox_dedupe_per_account
           ON ${inbox} (channel, callback, (COALESCE(account, '')), dedupe_key)`,
      );
      expect((await db.migrate()).applied).toEqual(["0034_inbox_per_account"]);
      await expectDedupePerAccount();
    });

    test("an index left INVALID by a failed concurrent build is refused, and the old key stays", async () => {
      await atMigration0033();
      await db.knex.raw(
        `CREATE UNIQUE INDEX CONCURRENTLY inbox_dedupe_per_account
           ON ${inbox} (channel, callback, (COALESCE(account, '')), dedupe_key)`,
      );
      // What a CONCURRENTLY build that failed half-way leaves behind.
      await db.knex.raw(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = ?::regclass`, [
        `"${schema}".inbox_dedupe_per_account`,
      ]);
      await expect(db.migrate()).rejects.toThrow(/inbox_dedupe_per_account is INVALID.*drop it/);
      const { rows } = await db.knex.raw(
        `SELECT conname FROM pg_constraint WHERE conrelid = ?::regclass AND contype = 'u'`,
        [inbox],
      );
      expect(rows).toEqual([{ conname: "inbox_dedupe_per_callback" }]);
      await db.knex.raw(`DROP INDEX "${schema}".inbox_dedupe_per_account`);
      expect((await db.migrate()).applied).toEqual(["0034_inbox_per_account"]);
      await expectDedupePerAccount();
    });
  },
);

describe.skipIf(!databaseUrl)(
  databaseUrl ? "migration 0046 on instances with rows" : skipMessage,
  () => {
    const schema = uniqueSchema("capflow_fewer_indexes");
    const db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 2 } });
    const instances = `"${schema}".instances`;
    afterAll(async () => {
      await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    });

    /** Back to the indexes of 0045, with a succeeded and a failed instance. */
    async function atMigration0045(): Promise<void> {
      await db.migrate();
      for (const statement of [
        `DELETE FROM ${instances}`,
        `DROP INDEX "${schema}".instances_identity`,
        `DROP INDEX "${schema}".instances_listing_not_succeeded`,
        `ALTER TABLE ${instances}
           ADD CONSTRAINT instances_business_key UNIQUE (channel, business_key, behavior)`,
        `CREATE INDEX instances_by_business_key ON ${instances} (business_key)`,
        `CREATE INDEX instances_listing_by_status ON ${instances} (status, created_at, id COLLATE "C")`,
        `DELETE FROM "${schema}".knex_migrations WHERE name = '0046_fewer_instance_indexes'`,
      ]) {
        await db.knex.raw(statement);
      }
      for (const [id, status] of [
        ["I-ok", "succeeded"],
        ["I-bad", "failed"],
      ] as const) {
        await db.knex.raw(
          `INSERT INTO ${instances} (id, channel, behavior, behavior_version, business_key, input,
             input_digest, step, status, context, snapshot, created_at, updated_at)
           VALUES (?, 'lanbank', 'loan', 1, ?, '{}', 'd', 'done', ?, '{}', '{}', now(), now())`,
          [id, `B-${id}`, status],
        );
      }
    }

    async function indexNames(): Promise<string[]> {
      const { rows } = await db.knex.raw(
        `SELECT indexname FROM pg_indexes WHERE schemaname = ? AND tablename = 'instances'
         ORDER BY indexname`,
        [schema],
      );
      return rows.map((row: { indexname: string }) => row.indexname);
    }

    async function expectOneIdentityIndex(): Promise<void> {
      const names = await indexNames();
      expect(names).toContain("instances_identity");
      expect(names).toContain("instances_listing_not_succeeded");
      for (const gone of [
        "instances_business_key",
        "instances_by_business_key",
        "instances_listing_by_status",
      ]) {
        expect(names).not.toContain(gone);
      }
      // The identity still refuses a second instance of a business key on a behavior.
      await expect(
        db.knex.raw(
          `INSERT INTO ${instances} (id, channel, behavior, behavior_version, business_key, input,
             input_digest, step, status, context, snapshot, created_at, updated_at)
           VALUES ('I-again', 'lanbank', 'loan', 1, 'B-I-ok', '{}', 'd', 'done', 'failed', '{}',
             '{}', now(), now())`,
        ),
      ).rejects.toMatchObject({ code: "23505", constraint: "instances_identity" });
      const listed = async (status: string) =>
        (await db.instances.listInstances({ status: [status as "failed"] })).map((i) => i.id);
      expect(await listed("succeeded")).toEqual(["I-ok"]);
      expect(await listed("failed")).toEqual(["I-bad"]);
      expect(
        (await db.instances.listInstances({ businessKey: "B-I-bad" })).map((i) => i.id),
      ).toEqual(["I-bad"]);
    }

    test("the identity moves to (business_key, channel, behavior); rows and listings stay", async () => {
      await atMigration0045();
      expect((await db.migrate()).applied).toEqual(["0046_fewer_instance_indexes"]);
      await expectOneIdentityIndex();
    });

    test("indexes built beforehand with CREATE INDEX CONCURRENTLY are kept", async () => {
      await atMigration0045();
      await db.knex.raw(
        `CREATE UNIQUE INDEX CONCURRENTLY instances_identity
           ON ${instances} (business_key, channel, behavior)`,
      );
      expect((await db.migrate()).applied).toEqual(["0046_fewer_instance_indexes"]);
      await expectOneIdentityIndex();
    });

    test("an index built by hand under the name but not unique is refused, and the old identity stays", async () => {
      await atMigration0045();
      await db.knex.raw(
        `CREATE INDEX CONCURRENTLY instances_identity ON ${instances} (business_key, channel, behavior)`,
      );
      await expect(db.migrate()).rejects.toThrow(
        /instances_identity .*not the one this migration builds/,
      );
      expect(await indexNames()).toContain("instances_business_key");
      await db.knex.raw(`DROP INDEX "${schema}".instances_identity`);
      expect((await db.migrate()).applied).toEqual(["0046_fewer_instance_indexes"]);
      await expectOneIdentityIndex();
    });

    test("an index left INVALID by a failed concurrent build is refused, and the old identity stays", async () => {
      await atMigration0045();
      await db.knex.raw(
        `CREATE UNIQUE INDEX CONCURRENTLY instances_identity
           ON ${instances} (business_key, channel, behavior)`,
      );
      await db.knex.raw(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = ?::regclass`, [
        `"${schema}".instances_identity`,
      ]);
      await expect(db.migrate()).rejects.toThrow(/instances_identity .*INVALID.*drop it/);
      expect(await indexNames()).toContain("instances_business_key");
      await db.knex.raw(`DROP INDEX "${schema}".instances_identity`);
      expect((await db.migrate()).applied).toEqual(["0046_fewer_instance_indexes"]);
      await expectOneIdentityIndex();
    });
  },
);
