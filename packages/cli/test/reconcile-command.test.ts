import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReconcileStore, yesterdayIn } from "@capflow/reconcile";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { insertInstance } from "../../reconcile/test/support/instances.ts";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;

const statement = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "lanbank-loan-{yyyyMMdd}.csv" },
  format: { kind: "delimited" },
  columns: { businessKey: "outOrderNo", amount: "amount", status: "status" },
  statuses: { SUCCESS: "succeeded" },
};

describe("capflow reconcile", () => {
  test("run, show, resolve, stops and resume are listed, each data command with --json", async () => {
    const help = await runCapflow("reconcile", "--help");
    expect(help.stdout).toMatch(
      /run \[options\][\s\S]*show \[options\] \[run\][\s\S]*resolve \[options\] <difference>[\s\S]*stops \[options\][\s\S]*resume \[options\] <statement>/,
    );
    for (const command of ["run", "show", "resolve", "stops", "resume"]) {
      expect((await runCapflow("reconcile", command, "--help")).stdout).toContain("--json");
    }
  });

  test("capflow validate checks statements too, with file, line and column", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-validate-statements-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, "lanbank.loan.statement.json"),
      JSON.stringify({ ...statement, encoding: 7 }, null, 2),
    );
    const run = await runCapflow("validate", dir);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/lanbank\.loan\.statement\.json:\d+:\d+.*encoding/);
    await writeFile(join(dir, "lanbank.loan.statement.json"), JSON.stringify(statement));
    const unknown = await runCapflow("validate", dir);
    expect(unknown.stdout).toContain("no channel lanbank is defined next to this statement");
  });

  describe.skipIf(!databaseUrl)(
    databaseUrl ? "on PostgreSQL" : "on PostgreSQL: skipped, set DATABASE_URL to run",
    () => {
      let db: Awaited<ReturnType<typeof openTestPostgres>>;
      let dir: string;
      beforeAll(async () => {
        db = await openTestPostgres();
        dir = await mkdtemp(join(tmpdir(), "capflow-reconcile-cli-"));
        await writeFile(join(dir, "lanbank.loan.statement.json"), JSON.stringify(statement));
        await writeFile(
          join(dir, "lanbank-loan-20261205.csv"),
          "outOrderNo,amount,status\nL001,1500.00,SUCCESS\nL002,20.00,SUCCESS\n",
        );
        for (const [key, amount] of [
          ["L001", "1500.00"],
          ["L003", "8.00"],
        ] as const) {
          await insertInstance(db, {
            channel: "lanbank",
            behavior: "loan",
            businessKey: key,
            input: { amount },
            context: {},
            status: "succeeded",
            updatedAt: "2026-12-05T12:00:00+08:00",
          });
        }
      });
      afterAll(async () => {
        await db?.drop();
        if (dir) await rm(dir, { recursive: true, force: true });
      });

      const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];

      test("a run prints its counts and exits 1 with differences; again, it changes nothing", async () => {
        const args = [
          "reconcile",
          "run",
          "--channel",
          "lanbank",
          "--date",
          "2026-12-05",
          "--definitions",
          dir,
          ...database(),
        ];
        const first = await runCapflow(...args);
        expect(first.stderr).toBe("");
        expect(first.exitCode).toBe(1);
        expect(first.stdout).toContain(
          "lanbank/loan-daily 2026-12-05: lanbank-loan-20261205.csv (2 lines)",
        );
        expect(first.stdout).toContain("matched 1, missing-ours 1, missing-funder 1");
        const again = await runCapflow(...args, "--json");
        const run = JSON.parse(again.stdout) as {
          id: string;
          reused: boolean;
          counts: Record<string, number>;
        };
        expect(run).toMatchObject({ reused: true, counts: { matched: 1, "missing-ours": 1 } });

        const listed = await runCapflow("reconcile", "show", "--json", ...database());
        expect(
          listed.stdout
            .trim()
            .split("\n")
            .map((line) => JSON.parse(line).id),
        ).toEqual([run.id]);
        const shown = await runCapflow("reconcile", "show", run.id, ...database());
        expect(shown.stdout).toMatch(/missing-ours\s+L002\s+line 3: 20.00 SUCCESS\s+-\s+open/);
        expect(shown.stdout).toMatch(/missing-funder\s+L003\s+-\s+loan 8.00 succeeded\s+open/);

        const differences = (
          await runCapflow(
            "reconcile",
            "show",
            run.id,
            "--json",
            "--kind",
            "missing-ours",
            ...database(),
          )
        ).stdout
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line));
        const id = differences[1].difference.id as string;
        const resolved = await runCapflow(
          "reconcile",
          "resolve",
          id,
          "--reason",
          "booked by hand",
          "--who",
          "ops-li",
          "--json",
          ...database(),
        );
        expect(JSON.parse(resolved.stdout)).toMatchObject({
          id,
          resolved: { by: "cli:ops-li", reason: "booked by hand" },
        });
        const twice = await runCapflow(
          "reconcile",
          "resolve",
          id,
          "--reason",
          "again",
          ...database(),
        );
        expect(twice.exitCode).toBe(1);
        expect(twice.stderr).toContain("already resolved by cli:ops-li");
        const open = await runCapflow("reconcile", "show", run.id, "--unresolved", ...database());
        expect(open.stdout).not.toContain("L002");
        expect(open.stdout).toContain("1 difference");
      });

      test("stops lists a statement the schedule stopped; resume clears it with who and why, once", async () => {
        await new ReconcileStore(db).stopStatement({
          channel: "lanbank",
          statement: "loan-sftp",
          definitionDigest: "d1",
          businessDate: "2026-12-05",
          error: { code: "STATEMENT_UNAVAILABLE", message: "the server showed another host key" },
          now: new Date("2026-12-06T03:00:00+08:00"),
        });
        const listed = await runCapflow("reconcile", "stops", ...database());
        expect(listed.stdout).toContain(
          "lanbank/loan-sftp 2026-12-05 since 2026-12-05T19:00:00.000Z, stopped",
        );
        expect(listed.stdout).toContain(
          "STATEMENT_UNAVAILABLE: the server showed another host key",
        );
        // --by, the older spelling of --who, is still taken.
        const resumed = await runCapflow(
          "reconcile",
          "resume",
          "lanbank/loan-sftp",
          "--reason",
          "host key confirmed with the funder",
          "--by",
          "ops-li",
          ...database(),
        );
        expect(resumed.stderr).toBe("");
        expect(resumed.stdout).toContain(
          "lanbank/loan-sftp resumed by cli:ops-li: host key confirmed with the funder",
        );
        expect((await runCapflow("reconcile", "stops", ...database())).stdout).toBe(
          "no statement is stopped\n",
        );
        const all = await runCapflow("reconcile", "stops", "--all", "--json", ...database());
        expect(JSON.parse(all.stdout)).toMatchObject({
          statement: "loan-sftp",
          cleared: { by: "cli:ops-li", reason: "host key confirmed with the funder" },
        });
        const twice = await runCapflow(
          "reconcile",
          "resume",
          "lanbank/loan-sftp",
          "--reason",
          "again",
          ...database(),
        );
        expect(twice.exitCode).toBe(1);
        expect(twice.stderr).toContain("lanbank/loan-sftp is not stopped");
      });

      test("capflow worker --statements reconciles yesterday's scheduled statement, once", async () => {
        const scheduled = await mkdtemp(join(tmpdir(), "capflow-reconcile-scheduled-"));
        onTestFinished(() => rm(scheduled, { recursive: true, force: true }));
        await writeFile(
          join(scheduled, "lanbank.loan.statement.json"),
          JSON.stringify({ ...statement, code: "loan-nightly", schedule: { after: "00:00" } }),
        );
        const date = yesterdayIn("Asia/Shanghai");
        await writeFile(
          join(scheduled, `lanbank-loan-${date.replaceAll("-", "")}.csv`),
          "outOrderNo,amount,status\nL404,1.00,SUCCESS\n",
        );
        const args = ["worker", "--exit-when-idle", "--statements", scheduled, ...database()];
        const first = await runCapflow(...args);
        expect(first.stderr).toBe("");
        expect(first.stdout).toContain("reconciling lanbank/loan-nightly after 00:00");
        expect(first.stdout).toMatch(
          new RegExp(`reconcile lanbank/loan-nightly ${date}: matched 0, missing-ours 1 \\(run `),
        );
        const second = await runCapflow(...args);
        expect(second.stdout).not.toContain(`reconcile lanbank/loan-nightly ${date}:`);
        const runs = await runCapflow("reconcile", "show", "--json", "--date", date, ...database());
        expect(runs.stdout.trim().split("\n")).toHaveLength(1);
      }, 60_000);

      test("a statement not defined, or a date not written as one, says what to do", async () => {
        const missing = await runCapflow(
          "reconcile",
          "run",
          "--channel",
          "meadow",
          "--definitions",
          dir,
          ...database(),
        );
        expect(missing).toMatchObject({
          exitCode: 1,
          stderr: expect.stringContaining("no statement for channel meadow"),
        });
        const badDate = await runCapflow(
          "reconcile",
          "run",
          "--channel",
          "lanbank",
          "--date",
          "5.12.2026",
          "--definitions",
          dir,
          ...database(),
        );
        expect(badDate).toMatchObject({
          exitCode: 1,
          stderr: expect.stringContaining("yyyy-MM-dd"),
        });
      });

      test("after fixing our instances, --again reconciles the same file anew", async () => {
        const args = [
          "reconcile",
          "run",
          "--channel",
          "lanbank",
          "--date",
          "2026-12-05",
          "--definitions",
          dir,
          ...database(),
        ];
        for (const [key, amount] of [
          ["L002", "20.00"],
          ["L005", "8.005"],
        ] as const) {
          await insertInstance(db, {
            channel: "lanbank",
            behavior: "loan",
            businessKey: key,
            input: { amount },
            context: {},
            status: "succeeded",
            updatedAt: "2026-12-05T12:00:00+08:00",
          });
        }
        const same = await runCapflow(...args);
        expect(same.stdout).toContain("reconciled before: nothing changed (--again to run anew)");
        expect(same.stdout).toContain("matched 1, missing-ours 1, missing-funder 1");
        const anew = await runCapflow(...args, "--again");
        expect(anew.stderr).toBe("");
        expect(anew.exitCode).toBe(1);
        expect(anew.stdout).toContain("reconciled again (attempt 2)");
        expect(anew.stdout).toContain("matched 2, missing-funder 2");
        expect(anew.stdout).toMatch(/compared with run \S+: 1 new, 1 repeated, 1 gone/);
        const id = /run (\S+); its differences/.exec(anew.stdout)![1]!;
        const shown = await runCapflow("reconcile", "show", id, ...database());
        expect(shown.stderr).toBe("");
        expect(shown.stdout).toMatch(/missing-funder\s+L005\s+-\s+loan 8\.005 succeeded/);
        const latest = await runCapflow(...args, "--json");
        expect(JSON.parse(latest.stdout)).toMatchObject({ id, reused: true, attempt: 1 });
      });
    },
  );

  describe.skipIf(!databaseUrl)("with --alerts, on PostgreSQL", () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;
    let robot: Server;
    const received: { headers: Record<string, unknown>; raw: string }[] = [];
    beforeAll(async () => {
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-reconcile-alerts-"));
      await writeFile(join(dir, "lanbank.loan.statement.json"), JSON.stringify(statement));
      await writeFile(
        join(dir, "lanbank-loan-20261205.csv"),
        "outOrderNo,amount,status\nL001,1500.00,SUCCESS\nL404,20.00,SUCCESS\n",
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
      robot = createServer((request, response) => {
        let raw = "";
        request.on("data", (chunk) => {
          raw += chunk;
        });
        request.on("end", () => {
          received.push({ headers: request.headers, raw });
          response.end("{}");
        });
      });
      await new Promise<void>((done) => robot.listen(0, "127.0.0.1", done));
      const url = `http://127.0.0.1:${(robot.address() as AddressInfo).port}/hook`;
      await writeFile(join(dir, "pager.secret"), "s3cret-of-the-pager");
      await writeFile(
        join(dir, "alerts.json"),
        JSON.stringify({
          rules: [{ name: "statements", kind: "reconciliation" }],
          sinks: [{ name: "pager", kind: "webhook", url, secret: "file:pager.secret" }],
        }),
      );
    });
    afterAll(async () => {
      await new Promise((done) => robot?.close(done));
      await db?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });
    const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];

    test("run sends the differences once, signed; resolving the last one resolves the alert", async () => {
      const args = ["reconcile", "run", "--channel", "lanbank", "--date", "2026-12-05"];
      const alerts = ["--definitions", dir, "--alerts", join(dir, "alerts.json")];
      const first = await runCapflow(...args, ...alerts, "--json", ...database());
      expect(first.stderr).toBe("");
      const run = JSON.parse(first.stdout) as { id: string; fileDigest: string };
      expect(received).toHaveLength(1);
      const { headers, raw } = received[0]!;
      expect(headers["x-capflow-signature"]).toBe(
        `v1=${createHmac("sha256", "s3cret-of-the-pager").update(`${headers["x-capflow-timestamp"]}.${raw}`).digest("hex")}`,
      );
      expect(JSON.parse(raw)).toMatchObject({
        type: "alert.firing",
        alert: {
          rule: "statements",
          subject: `lanbank/loan-daily 2026-12-05 sha256:${run.fileDigest.slice(0, 12)}`,
          details: { run: run.id, open: { "missing-ours": 1 } },
        },
      });
      await runCapflow(...args, ...alerts, ...database());
      expect(received).toHaveLength(1);

      const shown = await runCapflow("reconcile", "show", run.id, "--json", ...database());
      const difference = JSON.parse(shown.stdout.trim().split("\n")[1]!).difference;
      const resolved = await runCapflow(
        "reconcile",
        "resolve",
        difference.id,
        "--reason",
        "a test loan of the bank's",
        "--by",
        "ops-li",
        "--alerts",
        join(dir, "alerts.json"),
        ...database(),
      );
      expect(resolved.stderr).toBe("");
      expect(received.map(({ raw: body }) => JSON.parse(body).type)).toEqual([
        "alert.firing",
        "alert.resolved",
      ]);
    });

    test("an alerts file that is not one says what to fix", async () => {
      await writeFile(
        join(dir, "bad-alerts.json"),
        JSON.stringify({ rules: [{ name: "x", kind: "stuck", above: 0 }], sinks: [] }),
      );
      const bad = await runCapflow(
        "reconcile",
        "run",
        "--channel",
        "lanbank",
        "--date",
        "2026-12-05",
        "--definitions",
        dir,
        "--alerts",
        join(dir, "bad-alerts.json"),
        ...database(),
      );
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toContain('no rule has kind "reconciliation"');
    });
  });
});
