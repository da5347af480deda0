import { afterAll, describe, expect, test } from "vitest";
import { openPostgresStore } from "../src/index.ts";
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
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, 3]);
    expect(results.flatMap((r) => r.applied)).toEqual([
      "0001_initial",
      "0002_inbox_stale",
      "0003_waiting_for",
    ]);
    const { rows } = await nodes[0]!.knex.raw(
      `SELECT count(*)::int AS n FROM "${schema}".knex_migrations`,
    );
    expect(rows[0].n).toBe(3);
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
  });
});
