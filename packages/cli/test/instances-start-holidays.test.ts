import { access, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
} from "../../store-knex/test/support/databases.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";
import { writeScheduleAroundToday } from "./support/schedule-around-today.ts";

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
    // Opening a PGlite store creates its folder, so a folder still absent afterwards shows the
    // store was never opened. (A PostgreSQL store connects lazily, on its first query: an
    // unreachable database would not show whether it was opened first.)
    const folder = join(dir, "never-opened");
    const commands = [
      ["reconcile", "run", "--channel", "cedar-bank"],
      ["instances", "start", "--product", "cash-loan", "--key", "L1", "--input", "{}"],
    ];
    for (const command of commands) {
      const run = await runCapflow(...command, "--pglite", folder, "--holidays", bad);
      expect({ command, exitCode: run.exitCode }).toEqual({ command, exitCode: 1 });
      expect(run.stderr).toMatch(/\[CONFIG_INVALID\] .*acme-bad\.json: holidays\[0\]/);
      const missing = await runCapflow(
        ...command,
        ...["--pglite", folder, "--holidays", join(dir, "no.json")],
      );
      expect(missing.exitCode).toBe(1);
      expect(missing.stderr).toMatch(
        /\[CONFIG_INVALID\] cannot read the holiday schedule .*no\.json/,
      );
    }
    await expect(access(folder)).rejects.toMatchObject({ code: "ENOENT" });
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

      // Whatever day it is, the file decides: one leaves today to its weekday, the other makes it
      // the opposite (a holiday on a weekday, a make-up working day on a weekend). North takes the
      // business on the day it is open (its turn first), south on the other.
      const routedWith = async (key: string, file: string, openToday: boolean) => {
        const run = await start(key, "--holidays", file);
        expect(run.stderr).toBe("");
        expect(run.exitCode).toBe(0);
        const routed = JSON.parse(run.stdout);
        if (openToday) {
          expect(routed.channel).toBe("north");
          return;
        }
        expect(routed.channel).toBe("south");
        expect(routed.routing.candidates).toContainEqual(
          expect.objectContaining({
            channel: "north",
            state: "unhealthy",
            reason: expect.stringMatching(/^calendar closed: north is closed until /),
          }),
        );
      };
      const schedule = { name: "acme", timeZone: "Asia/Shanghai" };
      const asWeekday = join(dir, "acme-as-weekday.json");
      const flipped = join(dir, "acme-flipped.json");
      const unchanged = await writeScheduleAroundToday(asWeekday, {
        ...schedule,
        flipsToday: false,
      });
      await writeScheduleAroundToday(flipped, { ...schedule, flipsToday: true });
      // The closed day first: north's turn stays first for the open one.
      const [closedFile, openFile] = unchanged.openToday
        ? [flipped, asWeekday]
        : [asWeekday, flipped];
      await routedWith("L1", closedFile, false);
      await routedWith("L2", openFile, true);
    }, 60_000);
  });
});
