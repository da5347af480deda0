import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "capflow worker --alerts (PostgreSQL)"
    : "capflow worker --alerts: skipped, set DATABASE_URL to run",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;
    let receiver: Server;
    const received: { type: string; rule: string; subject: string }[] = [];

    beforeAll(async () => {
      process.env.CAPFLOW_TEST_ALERT_SECRET = "alert-webhook-secret";
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-cli-alerts-"));
      receiver = createServer((request, response) => {
        let body = "";
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => {
          body += chunk;
        });
        request.on("end", () => {
          const event = JSON.parse(body);
          received.push({
            type: event.type,
            rule: event.alert.rule,
            subject: event.alert.subject,
          });
          response.writeHead(204).end();
        });
      });
      receiver.listen(0, "127.0.0.1");
      await once(receiver, "listening");
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
      await writeFile(
        join(dir, "alerts.json"),
        JSON.stringify({
          rules: [
            { name: "upstream-notifications", kind: "outbox-failing", above: 1 },
            { name: "trial-limiter", kind: "limiter-saturated", for: "5m" },
            { name: "refused-callbacks", kind: "callbacks-refused", window: "10m", above: 0.2 },
          ],
          sinks: [{ name: "ops", kind: "webhook", url, secret: "env:CAPFLOW_TEST_ALERT_SECRET" }],
        }),
      );
      await writeFile(
        join(dir, "mistyped.json"),
        JSON.stringify({ rules: [{ name: "x", kind: "limiter-full" }], sinks: [] }),
      );
      // Two upstream notifications given up after every retry: above the rule's one.
      for (const id of ["N-1", "N-2"]) {
        await db.knex.raw(
          `INSERT INTO "${db.schema}".outbox (id, instance_id, type, payload, status, attempts, created_at)
          VALUES (?, 'I-1', 'instance.succeeded', '{}'::jsonb, 'failed', 10, now())`,
          [id],
        );
      }
    }, 60_000);
    afterAll(async () => {
      receiver?.close();
      await rm(dir, { recursive: true, force: true });
      await db.drop();
    });

    const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];

    test("a mistyped alerts file stops the worker before it starts, saying what is wrong", async () => {
      const run = await runCapflow(
        "worker",
        ...database(),
        "--exit-when-idle",
        "--alerts",
        join(dir, "mistyped.json"),
      );
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toContain("rules/0 kind must be one of");
      expect(run.stderr).toContain("limiter-saturated");
      expect(received).toEqual([]);
    }, 60_000);

    test("two workers with the same rules: one evaluates at a time, the alert is sent once", async () => {
      const args = [
        "worker",
        ...database(),
        "--exit-when-idle",
        "--alerts",
        join(dir, "alerts.json"),
      ];
      const [first, second] = await Promise.all([runCapflow(...args), runCapflow(...args)]);
      expect([first.exitCode, second.exitCode]).toEqual([0, 0]);
      expect(first.stderr + second.stderr).toBe("");
      expect(received).toEqual([
        { type: "alert.firing", rule: "upstream-notifications", subject: "outbox" },
      ]);
      const { rows } = await db.knex.raw(`SELECT rule, subject, status FROM "${db.schema}".alerts`);
      expect(rows).toEqual([
        { rule: "upstream-notifications", subject: "outbox", status: "firing" },
      ]);

      // The failed notifications re-sent and delivered: the next worker resolves the alert.
      await db.knex.raw(`UPDATE "${db.schema}".outbox SET status = 'delivered'`);
      expect((await runCapflow(...args)).exitCode).toBe(0);
      expect(received.map((r) => r.type)).toEqual(["alert.firing", "alert.resolved"]);
    }, 120_000);

    test("capflow serve --alerts evaluates the same rules in a serving node, and stops cleanly", async () => {
      await db.knex.raw(`UPDATE "${db.schema}".outbox SET status = 'failed'`);
      const before = received.length;
      const { DATABASE_URL: _db, REDIS_URL: _redis, ...env } = process.env;
      const child = spawn(
        process.execPath,
        [
          "--conditions=@capflow/source",
          "--import",
          "tsx",
          "packages/cli/src/main.ts",
          "serve",
          "--port",
          "0",
          ...database(),
          "--alerts",
          join(dir, "alerts.json"),
        ],
        { cwd: repositoryRoot, env, stdio: ["ignore", "pipe", "pipe"] },
      );
      let output = "";
      child.stdout?.on("data", (chunk) => {
        output += chunk;
      });
      child.stderr?.on("data", (chunk) => {
        output += chunk;
      });
      const exited = once(child, "exit");
      // The first round runs as the server starts.
      while (received.length === before && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      child.kill("SIGTERM");
      const [code] = await exited;
      expect(code, output).toBe(0);
      expect(received.slice(before)).toEqual([
        { type: "alert.firing", rule: "upstream-notifications", subject: "outbox" },
      ]);
    }, 120_000);
  },
);
