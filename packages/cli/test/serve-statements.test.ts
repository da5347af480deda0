import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { yesterdayIn } from "@capflow/reconcile";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { insertInstance } from "../../reconcile/test/support/instances.ts";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { runCapflow } from "./support/run-capflow.ts";
import { spawnServe } from "./support/spawn-serve.ts";

const databaseUrl = process.env.DATABASE_URL;

/** A loopback server; `respond` decides each request's answer (it may hold it). */
async function listen(
  respond: (path: string, body: string, answer: (status: number, text: string) => void) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () =>
      respond(request.url ?? "", body, (status, text) => response.writeHead(status).end(text)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.skipIf(!databaseUrl)("capflow serve --statements (PostgreSQL)", () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  let dir: string;
  const date = yesterdayIn("Asia/Shanghai");
  const fileRequests: string[] = [];
  let releaseFile: () => void = () => {};
  const alerts: { type: string; alert: { subject: string } }[] = [];
  let fileServer: Awaited<ReturnType<typeof listen>>;
  let robot: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    db = await openTestPostgres();
    dir = await mkdtemp(join(tmpdir(), "capflow-serve-statements-"));
    // The bank's file server holds the first download until the test lets it go, so a second
    // node checks while the first is still reconciling.
    fileServer = await listen((path, _body, answer) => {
      fileRequests.push(path);
      releaseFile = () =>
        answer(200, "outOrderNo,amount,status\nL001,1500.00,SUCCESS\nL404,9.99,SUCCESS\n");
    });
    robot = await listen((_path, body, answer) => {
      alerts.push(JSON.parse(body));
      answer(200, "{}");
    });
    await writeFile(
      join(dir, "lanbank.loan.statement.json"),
      JSON.stringify({
        channel: "lanbank",
        code: "loan-nightly",
        behaviors: ["loan"],
        timeZone: "Asia/Shanghai",
        source: { kind: "http", url: `${fileServer.url}/statements/LOAN_{yyyyMMdd}.csv` },
        format: { kind: "delimited" },
        columns: { businessKey: "outOrderNo", amount: "amount", status: "status" },
        statuses: { SUCCESS: "succeeded" },
        schedule: { after: "00:00", lookBackDays: 1 },
      }),
    );
    await writeFile(join(dir, "robot.secret"), "robot-secret-1");
    await writeFile(
      join(dir, "alerts.json"),
      JSON.stringify({
        rules: [{ name: "statements", kind: "reconciliation" }],
        sinks: [
          { name: "ops", kind: "webhook", url: `${robot.url}/hook`, secret: "file:robot.secret" },
        ],
      }),
    );
    await insertInstance(db, {
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L001",
      input: { amount: "1500.00" },
      context: {},
      status: "succeeded",
      updatedAt: `${date}T12:00:00+08:00`,
    });
  });
  afterAll(async () => {
    await new Promise((resolve) => fileServer?.server.close(resolve));
    await new Promise((resolve) => robot?.server.close(resolve));
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("two serve processes reconcile yesterday's statement once, one at a time, and alert once", async () => {
    const args = [
      "--database-url",
      databaseUrl!,
      "--schema",
      db.schema,
      "--port",
      "0",
      "--statements",
      dir,
      "--alerts",
      join(dir, "alerts.json"),
    ];
    const first = spawnServe(args);
    let second: ReturnType<typeof spawnServe> | undefined;
    try {
      await expect.poll(() => fileRequests.length, { timeout: 60_000 }).toBe(1);
      expect(first.output()).toContain("reconciling lanbank/loan-nightly after 00:00");
      second = spawnServe(args);
      await expect
        .poll(() => second!.output(), { timeout: 60_000 })
        .toContain(`reconcile lanbank/loan-nightly ${date}: another node is reconciling it`);
      releaseFile();
      await expect
        .poll(() => first.output(), { timeout: 30_000 })
        .toMatch(
          new RegExp(`reconcile lanbank/loan-nightly ${date}: matched 1, missing-ours 1 \\(run `),
        );
      await expect.poll(() => alerts.length, { timeout: 30_000 }).toBe(1);
      expect(alerts[0]).toMatchObject({
        type: "alert.firing",
        alert: { subject: expect.stringContaining(`lanbank/loan-nightly ${date} sha256:`) },
      });
      expect(fileRequests).toEqual([`/statements/LOAN_${date.replaceAll("-", "")}.csv`]);
      expect(second.output()).not.toMatch(/matched 1/);
    } finally {
      for (const serve of [first, second]) {
        if (serve === undefined || serve.child.exitCode !== null) continue;
        serve.child.kill("SIGTERM");
        await once(serve.child, "exit");
      }
    }
    expect(first.child.exitCode).toBe(0);
    const runs = await runCapflow(
      "reconcile",
      "show",
      "--json",
      "--date",
      date,
      "--database-url",
      databaseUrl!,
      "--schema",
      db.schema,
    );
    expect(runs.stdout.trim().split("\n")).toHaveLength(1);
  }, 180_000);

  test("an alerts file that cannot be read stops serve before it opens anything", async () => {
    const refused = await runCapflow("serve", "--alerts", join(dir, "missing-alerts.json"));
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("cannot read the alerts file");
  });
});
