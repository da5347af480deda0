import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { openStore } from "@capflow/store-knex";
import { describe, expect, it } from "vitest";

/**
 * The samples of docs/protection.md are complete programs: each is run as a reader would run it,
 * `node --import tsx <sample>`, on a database of its own (a fresh PostgreSQL database with
 * DATABASE_URL, else embedded PGlite in an empty folder), and must print what the document says;
 * the intake server's sample must serve and stop.
 */
const root = fileURLToPath(new URL("../../../", import.meta.url));
const samplesDir = fileURLToPath(new URL("../", import.meta.url));
const tsx = join(root, "node_modules/tsx/dist/loader.mjs");
const run = promisify(execFile);

const samples: { file: string; prints: RegExp[] }[] = [
  { file: "stuck-orders.ts", prints: [/^0 newly stuck, 0 cleared$/m] },
  {
    file: "business-calendar.ts",
    prints: [
      /^2026-09-30T10:00 open$/m,
      /^2026-09-30T23:45 closed: lanbank is closed until 2026-10-08 00:30 \(Asia\/Shanghai\)$/m,
      /^2026-10-10T10:00 open$/m,
    ],
  },
  {
    file: "alerts.ts",
    prints: [
      /^robot: \[WARNING\] queued-starts-expired: lanbank\/repay$/m,
      /^firing: queued-starts-expired lanbank\/repay: 3 queued starts expired unstarted$/m,
    ],
  },
  {
    file: "peak-shaving.ts",
    prints: [
      /^start\.admitted: R-\w+-1$/m,
      /^2 started now; 3 of lanbank\/repay wait their turn$/m,
    ],
  },
  {
    file: "cached-queries.ts",
    prints: [
      /^succeeded: \{"due":"1024\.00"\} until \d{4}-\d\d-\d\dT15:30:00\.000Z$/m,
      /^20 requests, 18 from the cache; the funder called 2×$/m,
    ],
  },
];

/** A database no other run uses: its URL, and how to remove it. */
async function ownDatabase(): Promise<{ env: NodeJS.ProcessEnv; drop(): Promise<void> }> {
  const { DATABASE_URL: url, ...rest } = process.env;
  if (!url) return { env: rest, drop: async () => {} };
  const name = `capflow_sample_${randomBytes(5).toString("hex")}`;
  const admin = await openStore({ databaseUrl: url });
  await admin.knex.raw(`CREATE DATABASE ${name}`);
  const own = new URL(url);
  own.pathname = `/${name}`;
  return {
    env: { ...rest, DATABASE_URL: own.toString() },
    async drop() {
      await admin.knex.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.close();
    },
  };
}

describe("the samples of docs/protection.md run", () => {
  for (const sample of samples) {
    it(sample.file, async () => {
      const cwd = await mkdtemp(join(tmpdir(), "capflow-sample-"));
      const database = await ownDatabase();
      try {
        const { stdout } = await run(
          process.execPath,
          ["--conditions=@capflow/source", "--import", tsx, join(samplesDir, sample.file)],
          { cwd, env: database.env, timeout: 60_000 },
        );
        for (const line of sample.prints) expect(stdout).toMatch(line);
      } finally {
        await database.drop();
        await rm(cwd, { recursive: true, force: true });
      }
    }, 90_000);
  }

  it("stuck-orders.ts run again within a minute says its round was skipped, not that nothing is stuck", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "capflow-sample-"));
    const database = await ownDatabase();
    try {
      const runSample = async () =>
        (
          await run(
            process.execPath,
            ["--conditions=@capflow/source", "--import", tsx, join(samplesDir, "stuck-orders.ts")],
            { cwd, env: database.env, timeout: 60_000 },
          )
        ).stdout;
      expect(await runSample()).toMatch(/^0 newly stuck, 0 cleared$/m);
      const again = await runSample();
      expect(again).toMatch(/^round skipped: another node finished one less than a minute ago$/m);
      expect(again).not.toMatch(/newly stuck/);
    } finally {
      await database.drop();
      await rm(cwd, { recursive: true, force: true });
    }
  }, 120_000);

  const servers = [
    { file: "query-intake.ts", path: "/v1/queries", prints: "queries" },
    { file: "queue-intake.ts", path: "/v1/instances", prints: "starts" },
  ];
  for (const sample of servers) {
    it(`${sample.file} serves POST ${sample.path} under the intake's checks, and stops on SIGTERM`, async () => {
      const cwd = await mkdtemp(join(tmpdir(), "capflow-sample-"));
      const database = await ownDatabase();
      const server = spawn(
        process.execPath,
        ["--conditions=@capflow/source", "--import", tsx, join(samplesDir, sample.file)],
        { cwd, env: { ...database.env, PORT: "0" }, stdio: ["ignore", "pipe", "inherit"] },
      );
      try {
        let stdout = "";
        const listening = new RegExp(`^${sample.prints}: POST (http://\\S+)${sample.path}$`, "m");
        const address = await new Promise<string>((resolve, reject) => {
          server.stdout.on("data", (chunk) => {
            stdout += chunk;
            const match = listening.exec(stdout);
            if (match) resolve(match[1]!);
          });
          server.once("exit", (code) => reject(new Error(`exited ${code} before listening`)));
        });
        const answer = await fetch(`${address}${sample.path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            channel: "lanbank",
            behavior: "repay",
            businessKey: "R-1",
            input: {},
          }),
        });
        // Unsigned, from no known client: refused before anything runs.
        expect(answer.status).toBe(401);
        expect(await answer.json()).toMatchObject({ error: { code: "AUTH_REQUIRED" } });
        const exited = once(server, "exit");
        server.kill("SIGTERM");
        expect((await exited)[0]).toBe(0);
      } finally {
        if (server.exitCode === null) server.kill("SIGKILL");
        await database.drop();
        await rm(cwd, { recursive: true, force: true });
      }
    }, 90_000);
  }
});
