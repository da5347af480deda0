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
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, 2]);
    expect(results.flatMap((r) => r.applied)).toEqual(["0001_initial", "0002_inbox_stale"]);
    const { rows } = await nodes[0]!.knex.raw(
      `SELECT count(*)::int AS n FROM "${schema}".knex_migrations`,
    );
    expect(rows[0].n).toBe(2);
    expect((await nodes[1]!.migrate()).applied).toEqual([]);
  });

  test("a schema at an earlier migration gets only the newer ones", async () => {
    // A database migrated by the release that had only 0001.
    await nodes[0]!.knex.raw(`DROP INDEX "${schema}".inbox_stale`);
    await nodes[0]!.knex.raw(
      `DELETE FROM "${schema}".knex_migrations WHERE name = '0002_inbox_stale'`,
    );
    const results = await Promise.all(nodes.map((node) => node.migrate()));
    expect(results.flatMap((r) => r.applied)).toEqual(["0002_inbox_stale"]);
    const { rows } = await nodes[0]!.knex.raw(
      `SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = ? AND indexname = 'inbox_stale'`,
      [schema],
    );
    expect(rows[0].n).toBe(1);
  });
});
