import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CapflowDatabase, openPgliteStore, openPostgresStore } from "@capflow/store-knex";
import { afterEach, describe, expect, test, vi } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;
const day = 86_400_000;

describe("capflow prune", () => {
  const folders: string[] = [];
  afterEach(async () => {
    for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
  });

  test("is listed with its ages, --dry-run and the database options", async () => {
    expect((await runCapflow("--help")).stdout).toContain("prune [options]");
    const help = (await runCapflow("prune", "--help")).stdout;
    for (const flag of [
      "--notifications-older-than <duration>",
      "--inbox-older-than <duration>",
      "--queued-starts-older-than <duration>",
      "--query-cache-older-than <duration>",
      "--batch-size <n>",
      "--dry-run",
      "--database-url <url>",
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain('(default: "90d")');
    expect(help).toContain('(default: "30d")');
  });

  test("bad flags are refused with what to write, before any database is reached", async () => {
    // Port 1 refuses connections: a CONFIG_INVALID proves the flags were checked first.
    const unreachable = ["--database-url", "postgres://capflow@127.0.0.1:1/loans"];
    expect(await runCapflow("prune", "--inbox-older-than", "ninety days", ...unreachable)).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        'error: [CONFIG_INVALID] --inbox-older-than takes a duration such as 90d, 36h or 0s, not "ninety days"\n',
    });
    expect(
      await runCapflow("prune", "--queued-starts-older-than", "-1d", ...unreachable),
    ).toMatchObject({
      exitCode: 1,
      stderr: expect.stringContaining(
        "[CONFIG_INVALID] --queued-starts-older-than takes a duration",
      ),
    });
    expect(await runCapflow("prune", "--inbox-older-than", "0s", ...unreachable)).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: `error: [CONFIG_INVALID] --inbox-older-than must be 7d or more, not 0s: a processed callback is what recognises a funder's repeat of it as a duplicate, and funders repeat a notification whose acknowledgement they missed for hours to days; give 7d or longer\n`,
    });
    for (const [flag, age, minimum] of [
      ["--inbox-older-than", "6d", "7d"],
      ["--notifications-older-than", "1h", "7d"],
      ["--queued-starts-older-than", "10m", "1d"],
    ]) {
      expect(await runCapflow("prune", flag!, age!, ...unreachable)).toMatchObject({
        exitCode: 1,
        stderr: expect.stringContaining(
          `[CONFIG_INVALID] ${flag} must be ${minimum} or more, not ${age}: `,
        ),
      });
    }
    expect(await runCapflow("prune", "--batch-size", "0", ...unreachable)).toMatchObject({
      exitCode: 1,
      stderr: "error: [CONFIG_INVALID] --batch-size must be a whole number of 1 or more\n",
    });
  });

  test("on PGlite: a dry run counts per kind, then prune deletes only what is past its age", async () => {
    const folder = await mkdtemp(join(tmpdir(), "capflow-prune-"));
    folders.push(folder);
    const dir = join(folder, "db");
    const db = await openPgliteStore({ dataDir: dir });
    await db.migrate();
    await seed(db);
    await db.close();

    const dryRun = await runCapflow("prune", "--pglite", dir, "--dry-run");
    expect(dryRun).toEqual({
      exitCode: 0,
      stderr: "",
      stdout: [
        `PGlite at ${dir}: dry run, nothing deleted`,
        "rows                               older than  would delete",
        "notifications delivered or failed  90d         1",
        "inbox entries processed            90d         1",
        "queued starts closed               30d         1",
        "cached queries expired             0s          0",
        "",
      ].join("\n"),
    });

    const pruned = await runCapflow("prune", "--pglite", dir, "--inbox-older-than", "7d");
    expect(pruned.exitCode).toBe(0);
    expect(pruned.stdout).toBe(
      [
        `PGlite at ${dir}: pruned`,
        "rows                               older than  deleted",
        "notifications delivered or failed  90d         1",
        "inbox entries processed            7d          2",
        "queued starts closed               30d         1",
        "cached queries expired             0s          0",
        "",
      ].join("\n"),
    );
    const after = await openPgliteStore({ dataDir: dir });
    try {
      expect(await keys(after)).toEqual({
        outbox: ["delivered-lately", "pending-old"],
        inbox: ["unprocessed-old"],
        queued_starts: ["queued-old", "started-lately"],
      });
    } finally {
      await after.close();
    }
    // Four opens of a PGlite folder, each seconds on a loaded machine.
  }, 120_000);

  describe.skipIf(!databaseUrl)(
    databaseUrl
      ? "on PostgreSQL"
      : "on PostgreSQL: skipped, set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run",
    () => {
      test("--json prints the counts as one object", async () => {
        const schema = `capflow_prune_${Math.random().toString(16).slice(2, 10)}`;
        const db = openPostgresStore({ connectionString: databaseUrl!, schema });
        try {
          await db.migrate();
          await seed(db);
          const run = await runCapflow(
            "prune",
            "--database-url",
            databaseUrl!,
            "--schema",
            schema,
            "--json",
          );
          expect(run.exitCode).toBe(0);
          expect(JSON.parse(run.stdout)).toEqual({
            target: db.target,
            dryRun: false,
            notifications: 1,
            inboxEntries: 1,
            queuedStarts: 1,
            queryCacheEntries: 0,
          });
        } finally {
          await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await db.close();
        }
      });

      test("a host whose clock runs ahead deletes no more: ages count back from the database's clock", async () => {
        const schema = `capflow_prune_${Math.random().toString(16).slice(2, 10)}`;
        const db = openPostgresStore({ connectionString: databaseUrl!, schema });
        try {
          await db.migrate();
          await seed(db);
          vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 60 * day });
          let run: Awaited<ReturnType<typeof runCapflow>>;
          try {
            run = await runCapflow("prune", "--database-url", databaseUrl!, "--schema", schema);
          } finally {
            vi.useRealTimers();
          }
          expect(run.exitCode).toBe(0);
          expect(await keys(db)).toEqual({
            outbox: ["delivered-lately", "pending-old"],
            inbox: ["processed-lately", "unprocessed-old"],
            queued_starts: ["queued-old", "started-lately"],
          });
        } finally {
          await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await db.close();
        }
      });
    },
  );
});

/** One row of each kind past its age, and rows prune keeps. */
async function seed(db: CapflowDatabase): Promise<void> {
  const s = `"${db.schema}"`;
  const ago = (ms: number) => new Date(Date.now() - ms);
  for (const [id, status, delivered] of [
    ["delivered-long-ago", "delivered", ago(100 * day)],
    ["delivered-lately", "delivered", ago(2 * day)],
    ["pending-old", "pending", null],
  ] as const) {
    await db.knex.raw(
      `INSERT INTO ${s}.outbox (id, instance_id, type, payload, status, created_at, delivered_at, next_attempt_at)
       VALUES (?, 'i', 'instance.settled', '{}', ?, ?, ?, ?)`,
      [id, status, ago(200 * day), delivered, status === "pending" ? ago(200 * day) : null],
    );
  }
  for (const [id, processed] of [
    ["processed-long-ago", ago(100 * day)],
    ["processed-lately", ago(10 * day)],
    ["unprocessed-old", null],
  ] as const) {
    await db.knex.raw(
      `INSERT INTO ${s}.inbox (id, channel, callback, dedupe_key, business_key, payload, received_at, processed_at)
       VALUES (?, 'lanbank', 'loan.result', ?, 'L-1', '{}', ?, ?)`,
      [id, id, ago(300 * day), processed],
    );
  }
  for (const [n, businessKey, status, finished] of [
    [1, "started-long-ago", "started", ago(40 * day)],
    [2, "started-lately", "started", ago(2 * day)],
    [3, "queued-old", "queued", null],
  ] as const) {
    await db.knex.raw(
      `INSERT INTO ${s}.queued_starts (id, channel, behavior, business_key, input, status, enqueued_at, expires_at, finished_at)
       VALUES (?::uuid, 'lanbank', 'loan', ?, '{}', ?, ?, ?, ?)`,
      [
        `00000000-0000-4000-8000-00000000000${n}`,
        businessKey,
        status,
        ago(50 * day),
        ago(49 * day),
        finished,
      ],
    );
  }
}

async function keys(db: CapflowDatabase): Promise<Record<string, string[]>> {
  const read = async (sql: string) =>
    ((await db.knex.raw(sql)) as { rows: { k: string }[] }).rows.map((row) => row.k);
  const s = `"${db.schema}"`;
  return {
    outbox: await read(`SELECT id AS k FROM ${s}.outbox ORDER BY id`),
    inbox: await read(`SELECT id AS k FROM ${s}.inbox ORDER BY id`),
    queued_starts: await read(
      `SELECT business_key AS k FROM ${s}.queued_starts ORDER BY business_key`,
    ),
  };
}
