import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { pushDefinitions } from "../../store-knex/src/index.ts";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { orderBehavior, orderChannel, orderQueue } from "./support/order-funder.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";
import { spawnServe } from "./support/spawn-serve.ts";

const databaseUrl = process.env.DATABASE_URL;
const day = 24 * 60 * 60 * 1000;
const utcDate = (at: number) => new Date(at).toISOString().slice(0, 10);

/** `capflow` in its own process, from source, as an operator runs it; resolves when it exits. */
async function spawnCapflow(...args: string[]) {
  const { DATABASE_URL: _db, REDIS_URL: _redis, ...env } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--conditions=@capflow/source", "--import", "tsx", "packages/cli/src/main.ts", ...args],
      { cwd: repositoryRoot, env, timeout: 60_000 },
    );
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: failed.code ?? 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

// Open all day on working days, with a cut-off half an hour in: which day it ends is unclear.
const channel = orderChannel(
  "dawn",
  "A funder whose cut-off was stored before cut-off days were ruled",
  { workingDaysOnly: true, holidays: "acme", cutoff: "00:30", atCutoff: "expire" },
);

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "a channel stored with an ambiguous cut-off (PostgreSQL)"
    : "a channel stored with an ambiguous cut-off: skipped, set DATABASE_URL to run",
  () => {
    let dir: string;
    let acme: string;
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "capflow-cli-ambiguous-cutoff-"));
      db = await openTestPostgres();
      // Stored as before the rule: capflow push would refuse it now.
      await pushDefinitions(db, {
        channels: [channel as never],
        behaviors: [orderBehavior("dawn") as never],
      });
      // Today a day off; the two days before working days (make-up days if on a weekend).
      const now = Date.now();
      const year = new Date(now).getUTCFullYear();
      acme = join(dir, "acme.json");
      await writeFile(
        acme,
        JSON.stringify({
          name: "acme",
          years: [year - 1, year, year + 1],
          holidays: [
            {
              name: "Founders' day",
              from: utcDate(now),
              to: utcDate(now),
              workingDays: [utcDate(now - day), utcDate(now - 2 * day)],
            },
          ],
        }),
      );
    });
    afterAll(async () => {
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    test("capflow worker warns at start naming the channel, the cut-off, the day it ends and what to declare, and keeps expiring its queued starts; capflow push names what to change", async () => {
      const now = Date.now();
      const queues = join(dir, "queues.json");
      const { store, queue } = await orderQueue(db, "dawn", queues);
      // Three days ago: before yesterday's working day's cut-off, whichever day it ends.
      const { queued: stale } = await queue("D-STALE", now - 3 * day);
      const { queued: fresh } = await queue("D-FRESH", now);

      const database = ["--database-url", databaseUrl!, "--schema", db.schema];
      const run = await spawnCapflow(
        "worker",
        ...database,
        "--exit-when-idle",
        "--queues",
        queues,
        "--holidays",
        acme,
      );
      expect(run.exitCode, run.stderr + run.stdout).toBe(0);
      const output = run.stdout + run.stderr;
      expect(output).not.toMatch(/CONFIG_INVALID/);
      // One warning at start, naming the channel, the cut-off, the day it ends, what to declare.
      expect(output).toContain(
        "warning: channel dawn's calendar cut-off 00:30 is ambiguous (ambiguous-cutoff): the cut-off 00:30 falls after the day's first opening yet leaves 23h30 of its 24h of service time after it, so the working day it ends is unclear; it is taken to end its own date's day",
      );
      expect(output).toContain('"serviceWindows": ["00:30-00:30"] (open all day)');
      expect(output).toContain(
        "The channel keeps running as stored; capflow push refuses it until the day is explicit",
      );
      expect(output.split("channel dawn's calendar cut-off")).toHaveLength(2);
      // Its queued starts still expire at the cut-off; today's waits for the next working day.
      expect(output).toContain(
        "queued start dawn/apply D-STALE expired unstarted at its channel's cut-off (CALENDAR_CUTOFF_EXPIRED)",
      );
      expect(await store.getQueued(stale.id)).toMatchObject({
        status: "expired",
        lastError: { code: "CALENDAR_CUTOFF_EXPIRED" },
      });
      expect(await store.getQueued(fresh.id)).toMatchObject({ status: "queued", attempts: 0 });

      // A push of the folder that changes only the behavior still validates the channel: it is
      // refused, saying exactly what to write, and nothing is stored.
      const definitions = join(dir, "definitions");
      await mkdir(definitions, { recursive: true });
      await writeFile(join(definitions, "dawn.channel.json"), JSON.stringify(channel));
      await writeFile(
        join(definitions, "dawn.apply.behavior.json"),
        JSON.stringify(orderBehavior("dawn", { orderNo: "{{input.orderNo}}", channel: "app" })),
      );
      const pushed = await runCapflow("push", definitions, ...database, "--no-check-secrets");
      expect(pushed.exitCode).toBe(1);
      expect(pushed.stdout).toContain("[ambiguous-cutoff]");
      expect(pushed.stdout).toContain("1 problem in 1 file");
      expect(pushed.stdout).toContain(
        'To make it explicit, declare the funder\'s hours in serviceWindows so the day opens at or after the cut-off: "serviceWindows": ["00:30-00:30"] (open all day)',
      );
      expect(pushed.stderr).toMatch(/nothing pushed: fix the problems above/);
      const { rows } = await db.knex.raw(
        `SELECT max(version)::int AS version FROM "${db.schema}".behaviors WHERE channel = 'dawn'`,
      );
      expect(rows[0].version).toBe(1);
    }, 90_000);

    test("capflow serve warns once at start the same way and stays ready: /readyz does not fail for it", async () => {
      const database = ["--database-url", databaseUrl!, "--schema", db.schema];
      const serve = spawnServe([...database, "--port", "0", "--holidays", acme]);
      try {
        await expect.poll(serve.output, { timeout: 60_000 }).toMatch(/capflow serve on http:/);
        const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ status: "ready" });
        expect(serve.output()).toContain(
          "warning: channel dawn's calendar cut-off 00:30 is ambiguous (ambiguous-cutoff): ",
        );
        expect(serve.output().split("channel dawn's calendar cut-off")).toHaveLength(2);
        expect(serve.output()).not.toMatch(/CONFIG_INVALID/);
      } finally {
        serve.child.kill("SIGTERM");
        await new Promise((resolve) => serve.child.once("exit", resolve));
      }
    }, 90_000);
  },
);
