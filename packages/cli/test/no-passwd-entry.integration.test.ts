import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReconcileStore } from "@capflow/reconcile";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { insertInstance } from "../../reconcile/test/support/instances.ts";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import type { CliRun } from "./support/run-capflow.ts";
import { repositoryRoot } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;
/** Only root may run a process under another uid. */
const asRoot = process.getuid?.() === 0;
/** A uid with no passwd entry, as a container's `runAsUser` often is. */
const uid = 12_345;

/**
 * `capflow` run under a uid with no passwd entry, where `os.userInfo()` throws: every command that
 * records who acted records `--who`, else `cli:uid:<n>` (no `$USER` either), instead of crashing.
 */
describe.skipIf(!databaseUrl || !asRoot)(
  databaseUrl && asRoot
    ? "capflow under a uid with no passwd entry"
    : "capflow under a uid with no passwd entry: skipped, run as root with DATABASE_URL set",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;
    const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];
    const nobody = `cli:uid:${uid}`;

    beforeAll(async () => {
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-no-passwd-"));
      await chmod(dir, 0o755);
      await writeFile(
        join(dir, "lanbank.loan.statement.json"),
        JSON.stringify({
          channel: "lanbank",
          code: "loan-daily",
          behaviors: ["loan"],
          timeZone: "Asia/Shanghai",
          source: { kind: "file", path: "lanbank-loan-{yyyyMMdd}.csv" },
          format: { kind: "delimited" },
          columns: { businessKey: "outOrderNo", amount: "amount", status: "status" },
          statuses: { SUCCESS: "succeeded" },
        }),
      );
      await writeFile(
        join(dir, "lanbank-loan-20261205.csv"),
        "outOrderNo,amount,status\nL001,1500.00,SUCCESS\nL002,20.00,SUCCESS\n",
      );
      await insertInstance(db, {
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L001",
        input: { amount: "1500.00" },
        context: {},
        status: "succeeded",
        updatedAt: "2026-12-05T12:00:00+08:00",
      });
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("push records cli:uid:<n>, or --who, instead of crashing", async () => {
      const pushed = await runAsNobody("push", "examples/meadow/definitions", ...database());
      expect(pushed.stderr).toBe("");
      expect(pushed.exitCode).toBe(0);
      const { rows } = (await db.knex.raw(
        `SELECT who FROM "${db.schema}".definition_pushes ORDER BY pushed_at`,
      )) as { rows: { who: string }[] };
      expect(rows.map((row) => row.who)).toEqual([nobody]);
    }, 120_000);

    test("instances start records the reason with cli:uid:<n>, or --who", async () => {
      const start = ["instances", "start", "--channel", "meadow", "--behavior", "loan"];
      const input = ["--input", '{"amount":"100.00"}', "--reason", "started by hand"];
      const started = await runAsNobody(...start, "--key", "N1", ...input, "--json", ...database());
      expect(started.stderr).toBe("");
      expect(started.exitCode).toBe(0);
      const named = await runAsNobody(
        ...[...start, "--key", "N2", ...input, "--who", "ops-li", "--json", ...database()],
      );
      expect(named.exitCode).toBe(0);
      const whoStarted = async (run: CliRun) => {
        const { id } = JSON.parse(run.stdout) as { id: string };
        const shown = await runAsNobody("instances", "show", id, "--json", ...database());
        return (JSON.parse(shown.stdout) as { history: { actor?: { who: string } }[] }).history[0]
          ?.actor?.who;
      };
      expect(await whoStarted(started)).toBe(nobody);
      expect(await whoStarted(named)).toBe("cli:ops-li");
    }, 120_000);

    test("reconcile run, resolve and resume record cli:uid:<n>, or --who", async () => {
      const run = await runAsNobody(
        ...["reconcile", "run", "--channel", "lanbank", "--date", "2026-12-05"],
        ...["--definitions", dir, "--json", ...database()],
      );
      expect(run.stderr).toBe("");
      const { id: runId } = JSON.parse(run.stdout) as { id: string };
      const store = new ReconcileStore(db);
      expect((await store.getRun(runId)).startedBy).toBe(nobody);

      const [difference] = await store.listDifferences(runId, { kind: "missing-ours" });
      const resolved = await runAsNobody(
        ...["reconcile", "resolve", difference!.id, "--reason", "booked by hand", "--json"],
        ...database(),
      );
      expect(resolved.stderr).toBe("");
      expect(JSON.parse(resolved.stdout).resolved).toMatchObject({ by: nobody });

      await store.stopStatement({
        channel: "lanbank",
        statement: "loan-sftp",
        definitionDigest: "d1",
        businessDate: "2026-12-05",
        error: { code: "STATEMENT_UNAVAILABLE", message: "the server showed another host key" },
        now: new Date(),
      });
      const resumed = await runAsNobody(
        ...["reconcile", "resume", "lanbank/loan-sftp", "--reason", "host key confirmed"],
        ...["--who", "ops-li", ...database()],
      );
      expect(resumed.stderr).toBe("");
      expect(resumed.stdout).toContain("resumed by cli:ops-li: host key confirmed");
    }, 120_000);
  },
);

/** `capflow` as its own process under {@link uid}, with no `$USER` to fall back on. */
function runAsNobody(...args: string[]): Promise<CliRun> {
  const { USER: _user, DATABASE_URL: _db, REDIS_URL: _redis, ...env } = process.env;
  const child = spawn(
    process.execPath,
    ["--conditions=@capflow/source", "--import", "tsx", "packages/cli/src/main.ts", ...args],
    { cwd: repositoryRoot, env, uid, gid: uid, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
  });
}
