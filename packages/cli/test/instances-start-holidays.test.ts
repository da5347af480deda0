import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
} from "../../store-knex/test/support/databases.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";

/** Today in the routing fixtures' zone, `YYYY-MM-DD`. */
const today = () =>
  new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());

/**
 * A schedule "acme" covering this year and next: today a holiday, or (`workingDay`) a make-up
 * working day, whatever day of the week it is.
 */
async function acmeFile(dir: string, name: string, today: string, workingDay: boolean) {
  const year = Number(today.slice(0, 4));
  const other = today.endsWith("-01-01") ? `${year}-12-31` : `${year}-01-01`;
  const file = join(dir, name);
  await writeFile(
    file,
    JSON.stringify({
      name: "acme",
      years: [year, year + 1],
      holidays: workingDay
        ? [{ name: "Founders' day", from: other, to: other, workingDays: [today] }]
        : [{ name: "Founders' day", from: today, to: today }],
    }),
  );
  return file;
}

describe("capflow reconcile run and instances start --holidays", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-holidays-commands-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a schedule file that does not hold stops the command before it opens anything, naming the file", async () => {
    const bad = join(dir, "acme-bad.json");
    await writeFile(
      bad,
      JSON.stringify({ name: "acme", holidays: [{ name: "Founders' day", from: "2026/10/01" }] }),
    );
    // An unreachable database: a command that opened it first would fail on the connection.
    const nowhere = ["--database-url", "postgres://capflow@127.0.0.1:1/none"];
    const commands = [
      ["reconcile", "run", "--channel", "cedar-bank"],
      ["instances", "start", "--product", "cash-loan", "--key", "L1", "--input", "{}"],
    ];
    for (const command of commands) {
      const run = await runCapflow(...command, ...nowhere, "--holidays", bad);
      expect({ command, exitCode: run.exitCode }).toEqual({ command, exitCode: 1 });
      expect(run.stderr).toMatch(/\[CONFIG_INVALID\] .*acme-bad\.json: holidays\[0\]/);
      const missing = await runCapflow(...command, ...nowhere, "--holidays", join(dir, "no.json"));
      expect(missing.exitCode).toBe(1);
      expect(missing.stderr).toMatch(
        /\[CONFIG_INVALID\] cannot read the holiday schedule .*no\.json/,
      );
    }
  });

  describe.skipIf(!databaseUrl)(databaseUrl ? "on PostgreSQL" : skipMessage, () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];
    const start = (key: string, ...more: string[]) =>
      runCapflow(
        "instances",
        ...["start", "--product", "cash-loan", "--key", key, "--input"],
        JSON.stringify({ amount: "1000.00", termMonths: 12 }),
        ...[...database(), "--json", ...more],
      );

    beforeAll(async () => {
      db = await openTestPostgres();
      // The routing fixtures, north open on working days of the schedule "acme" only.
      const definitions = join(dir, "routing");
      await cp(join(repositoryRoot, "packages/cli/test/fixtures/routing"), definitions, {
        recursive: true,
      });
      const north = join(definitions, "north.channel.json");
      await writeFile(
        north,
        JSON.stringify({
          ...JSON.parse(await readFile(north, "utf8")),
          calendar: { workingDaysOnly: true, holidays: "acme" },
        }),
      );
      const pushed = await runCapflow("push", definitions, ...database());
      expect(pushed.stderr).toBe("");
    }, 60_000);
    afterAll(async () => {
      await db?.drop();
    });

    test("a product's start judges its channels' business days with the worker's schedules", async () => {
      // Without the file the calendar knows no "acme": the start cannot judge north, and says why.
      const unknown = await start("L0");
      expect(unknown.exitCode).toBe(1);
      expect(unknown.stderr).toMatch(
        /\[CONFIG_INVALID\] channel north's calendar names the holiday schedule "acme", which the calendar was not given/,
      );

      // Today a holiday of acme: north is closed, the business goes to south.
      const holiday = await acmeFile(dir, "acme-holiday.json", today(), false);
      const closed = await start("L1", "--holidays", holiday);
      expect(closed.stderr).toBe("");
      expect(closed.exitCode).toBe(0);
      const routed = JSON.parse(closed.stdout);
      expect(routed.channel).toBe("south");
      expect(routed.routing.candidates).toContainEqual(
        expect.objectContaining({
          channel: "north",
          state: "unhealthy",
          reason: expect.stringMatching(/^calendar closed: north is closed until /),
        }),
      );

      // Today a make-up working day of acme (even on a weekend): north takes it, its turn first.
      const workingDay = await acmeFile(dir, "acme-working.json", today(), true);
      const open = await start("L2", "--holidays", workingDay);
      expect(open.stderr).toBe("");
      expect(JSON.parse(open.stdout).channel).toBe("north");
    }, 60_000);
  });
});
