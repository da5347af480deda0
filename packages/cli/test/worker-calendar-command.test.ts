import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { orderBehavior, orderChannel, orderQueue } from "./support/order-funder.ts";
import { runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;
const day = 24 * 60 * 60 * 1000;

/** `HH:MM` in UTC of an instant. */
const utcClock = (at: number) => new Date(at).toISOString().slice(11, 16);

describe("capflow serve and worker --holidays", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-holidays-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a schedule file that does not hold stops the command before it opens anything, naming the file and what to fix", async () => {
    const bad = join(dir, "cn-2027.json");
    await writeFile(
      bad,
      JSON.stringify({ name: "cn", holidays: [{ name: "春节", from: "2027/02/06", to: "x" }] }),
    );
    // An unreachable database: a command that opened it first would fail on the connection.
    const nowhere = ["--database-url", "postgres://capflow@127.0.0.1:1/none"];
    for (const command of ["worker", "serve"]) {
      const run = await runCapflow(command, ...nowhere, "--holidays", bad);
      expect({ command, exitCode: run.exitCode }).toEqual({ command, exitCode: 1 });
      expect(run.stderr).toMatch(
        /\[CONFIG_INVALID\] .*cn-2027\.json: holidays\[0\] \(春节\) needs dates written YYYY-MM-DD/,
      );
    }
    const missing = await runCapflow(
      "worker",
      ...nowhere,
      "--holidays",
      join(dir, "cn-2026.json"),
      "--holidays",
      join(dir, "absent.json"),
    );
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/\[CONFIG_INVALID\] cannot read the holiday schedule .*/);
  });

  describe.skipIf(!databaseUrl)(
    databaseUrl ? "on PostgreSQL" : "on PostgreSQL: skipped, set DATABASE_URL to run",
    () => {
      let db: Awaited<ReturnType<typeof openTestPostgres>>;
      beforeAll(async () => {
        db = await openTestPostgres();
      });
      afterAll(async () => {
        await db?.drop();
      });

      test("worker --queues keeps to the calendar: closed, nothing admitted; queued before the cut-off, expired; a year the schedule lacks, a warning", async () => {
        const now = Date.now();
        const definitions = join(dir, "definitions");
        await mkdir(definitions, { recursive: true });
        // Closed now: one window an hour long, two hours ahead; every midnight (UTC) a cut-off
        // that expires waiting calls; working days from a schedule that covers 2020 only.
        await writeFile(
          join(definitions, "night.channel.json"),
          JSON.stringify(
            orderChannel("night", "A funder closed at the time of the test", {
              serviceWindows: [`${utcClock(now + 2 * 3600_000)}-${utcClock(now + 3 * 3600_000)}`],
              workingDaysOnly: true,
              holidays: "acme",
              cutoff: "00:00",
              atCutoff: "expire",
            }),
          ),
        );
        await writeFile(
          join(definitions, "night.apply.behavior.json"),
          JSON.stringify(orderBehavior("night")),
        );
        const database = ["--database-url", databaseUrl!, "--schema", db.schema];
        const pushed = await runCapflow("push", definitions, ...database);
        expect(pushed.exitCode, pushed.stderr + pushed.stdout).toBe(0);
        const queues = join(dir, "queues.json");
        const { store, queue } = await orderQueue(db, "night", queues);
        const acme = join(dir, "acme-2020.json");
        await writeFile(
          acme,
          JSON.stringify({
            name: "acme",
            holidays: [{ name: "New Year", from: "2020-01-01", to: "2020-01-01" }],
          }),
        );

        // Four days ago: before the last working day's cut-off (00:00 ends the day before it, so
        // at most three days back, on a Monday night), whatever day the test runs.
        const { queued: stale } = await queue("N-STALE", now - 4 * day);
        const { queued: fresh } = await queue("N-FRESH", now);

        const run = await runCapflow(
          "worker",
          ...database,
          "--exit-when-idle",
          "--queues",
          queues,
          "--holidays",
          acme,
        );
        expect(run.exitCode, run.stderr).toBe(0);
        const year = new Date(now).getUTCFullYear();
        expect(run.stdout).toMatch(
          `warning: holiday schedule "acme" does not cover ${year} (it covers only 2020): channel night's working days in ${year} are judged Monday to Friday`,
        );
        // Said when the worker starts, before any day of the year is judged.
        expect(run.stdout).toMatch(
          `warning: holiday schedule "acme" of channel night does not cover ${year}: from ${year}-01-01 their working days would be judged Monday to Friday`,
        );
        // Once per schedule and year, however many times the calendar judged a day of it.
        expect(run.stdout.split(`does not cover ${year} `)).toHaveLength(2);
        expect(run.stdout).toMatch(
          "queued start night/apply N-STALE expired unstarted at its channel's cut-off (CALENDAR_CUTOFF_EXPIRED)",
        );
        expect(await store.getQueued(stale.id)).toMatchObject({
          status: "expired",
          lastError: { code: "CALENDAR_CUTOFF_EXPIRED" },
        });
        // Queued after the last cut-off, while the funder is closed: still waiting, not started.
        expect(await store.getQueued(fresh.id)).toMatchObject({ status: "queued", attempts: 0 });
        const { rows } = await db.knex.raw(
          `SELECT count(*)::int AS n FROM "${db.schema}".instances`,
        );
        expect(rows[0].n).toBe(0);
        const { rows: told } = await db.knex.raw(
          `SELECT type, payload->'error'->>'code' AS code FROM "${db.schema}".outbox`,
        );
        expect(told).toEqual([{ type: "start.expired", code: "CALENDAR_CUTOFF_EXPIRED" }]);
      }, 60_000);
    },
  );
});
