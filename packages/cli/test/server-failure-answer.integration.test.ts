import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine, ProcessorRegistry } from "@capflow/core";
import { createServer, issueOperatorToken } from "@capflow/server";
import { type CapflowDatabase, openPostgresStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { writeLocalServer } from "../src/commands/local-server.ts";
import { runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;

/**
 * A command that goes through a running `capflow serve` and meets a failure there reports the
 * server's code, its fixed sentence and the request's id, under which the server logged the cause.
 */
describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "a capflow serve failure as a command reports it (PostgreSQL)"
    : "skipped: set DATABASE_URL to run",
  () => {
    const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
    const lines: string[] = [];
    let db: CapflowDatabase;
    let engine: Engine;
    let app: ReturnType<typeof createServer>;
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "capflow-server-failure-"));
      db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 2 } });
      await db.migrate();
      engine = createEngine({
        store: db.instances,
        definitions: db.definitions,
        processors: new ProcessorRegistry(),
      });
      app = createServer({
        engine,
        store: db.instances,
        definitions: db.definitions,
        operators: { tokens: db.operatorTokens },
        console: false,
        log: { level: "info", stream: { write: (line: string) => lines.push(line) } },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      const { token } = await issueOperatorToken(db.operatorTokens, {
        name: "cli-test",
        role: "viewer",
        reason: "the command's reading through the server",
      });
      const port = (app.server.address() as { port: number }).port;
      await writeLocalServer(join(dir, "db"), {
        url: `http://127.0.0.1:${port}`,
        token,
        pid: process.pid,
      });
      await db.knex.raw(`DROP TABLE "${schema}".instances CASCADE`);
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await engine?.close();
      await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("instances list names the request id the server logged the cause under", async () => {
      const run = await runCapflow("instances", "list", "--pglite", join(dir, "db"));
      expect(run.exitCode).not.toBe(0);
      const match = /\(capflow serve's log has it under request ([0-9a-f-]{36})\)/.exec(run.stderr);
      expect(match, run.stderr).not.toBeNull();
      expect(run.stderr).toContain("STORE_FAILED");
      expect(run.stderr).toContain("the database refused or failed this request");
      expect(run.stderr).not.toContain(schema);
      const logged = lines.filter((line) => line.includes(`"reqId":"${match![1]}"`));
      expect(logged.some((line) => line.includes("capflow's tables are missing"))).toBe(true);
    });
  },
);
