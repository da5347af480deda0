import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;

describe("capflow migrate", () => {
  test("push, pull and migrate are listed, with the database options", async () => {
    const help = await runCapflow("--help");
    expect(help.stdout).toContain("push [options] <dir>");
    expect(help.stdout).toContain("pull [options] <dir>");
    expect(help.stdout).toContain("migrate [options]");
    const push = await runCapflow("push", "--help");
    expect(push.stdout).toContain("--database-url <url>");
    expect(push.stdout).toContain("--pglite <dir>");
    expect(push.stdout).toContain(".capflow/db");
  });

  test("an unreachable database: says what to check, never prints the password, exits 1", async () => {
    const run = await runCapflow(
      "migrate",
      "--database-url",
      "postgres://capflow:hunter2@127.0.0.1:1/loans",
    );
    expect(run).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        "error: [STORE_UNAVAILABLE] cannot reach PostgreSQL at 127.0.0.1:1/loans: connection refused; is it running? check DATABASE_URL\n",
    });
  });

  describe.skipIf(!databaseUrl)(
    databaseUrl
      ? "on PostgreSQL"
      : "on PostgreSQL: skipped, set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run",
    () => {
      test("applies the migrations once, then reports the schema up to date; push works there", async () => {
        const schema = `capflow_cli_${randomBytes(4).toString("hex")}`;
        try {
          const first = await runCapflow(
            "migrate",
            "--database-url",
            databaseUrl!,
            "--schema",
            schema,
          );
          expect(first).toMatchObject({ exitCode: 0, stderr: "" });
          // Every migration, in order; later releases append more.
          expect(first.stdout).toMatch(
            new RegExp(
              `^${escapeRegExp(describeTarget(databaseUrl!))}: applied 0001_initial, 0002_inbox_stale, 0003_waiting_for(, \\d{4}_\\w+)*\n$`,
            ),
          );
          const second = await runCapflow(
            "migrate",
            "--database-url",
            databaseUrl!,
            "--schema",
            schema,
          );
          expect(second.stdout).toBe(`${describeTarget(databaseUrl!)}: already up to date\n`);
          const push = await runCapflow(
            "push",
            "packages/store-knex/test/fixtures/definitions",
            "--database-url",
            databaseUrl!,
            "--schema",
            schema,
          );
          expect(push.exitCode).toBe(0);
          expect(push.stdout).toContain("behavior lanbank/loan: added, now version 1");
        } finally {
          const { openPostgresStore } = await import("@capflow/store-knex");
          const db = openPostgresStore({ connectionString: databaseUrl!, schema });
          await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await db.close();
        }
      });
    },
  );
});

function describeTarget(url: string): string {
  const parsed = new URL(url);
  return `PostgreSQL at ${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
