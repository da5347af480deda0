import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { once } from "node:events";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signedString } from "@capflow/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;
const clientSecret = "queues-test-client-secret";
const notifySecret = "queues-test-notify-secret";

interface Notification {
  path: string;
  verified: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: notification bodies, read field by field
  body: any;
}

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "capflow serve and worker --queues (PostgreSQL)"
    : "capflow serve and worker --queues: skipped, set DATABASE_URL to run",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;
    let receiver: Server;
    const received: Notification[] = [];
    const alerts: { type: string; rule: string; subject: string }[] = [];
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      process.env.CAPFLOW_TEST_QUEUE_CLIENT_SECRET = clientSecret;
      process.env.CAPFLOW_TEST_QUEUE_NOTIFY_SECRET = notifySecret;
      process.env.CAPFLOW_TEST_QUEUE_ALERT_SECRET = "queues-test-alert-secret";
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-cli-queues-"));
      receiver = createServer((request, response) => {
        let body = "";
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => {
          body += chunk;
        });
        request.on("end", () => {
          if (request.url === "/alerts") {
            const event = JSON.parse(body);
            alerts.push({ type: event.type, rule: event.alert.rule, subject: event.alert.subject });
            response.writeHead(204).end();
            return;
          }
          const id = String(request.headers["capflow-event-id"]);
          const timestamp = String(request.headers["capflow-timestamp"]);
          const expected = createHmac("sha256", notifySecret)
            .update(`${timestamp}.${id}.${body}`)
            .digest("base64");
          received.push({
            path: request.url ?? "",
            verified: expected === request.headers["capflow-signature"],
            body: JSON.parse(body),
          });
          response.writeHead(204).end();
        });
      });
      receiver.listen(0, "127.0.0.1");
      await once(receiver, "listening");
      const notifyBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

      // The shop channel's definitions and an upstream client that may start its behaviors.
      const definitions = join(dir, "definitions");
      await cp(join(repositoryRoot, "packages/cli/test/fixtures/operations"), definitions, {
        recursive: true,
      });
      await writeFile(
        join(definitions, "platform.client.json"),
        JSON.stringify({
          id: "platform",
          signature: {
            algorithm: "hmac-sha256",
            key: { ref: "env:CAPFLOW_TEST_QUEUE_CLIENT_SECRET" },
            canonical: "rawBody",
            encoding: "hex",
          },
          allowedIps: ["127.0.0.1"],
          allow: { behaviors: ["shop/*"] },
          notify: { url: `${notifyBase}/platform` },
        }),
      );
      const pushed = await runCapflow("push", definitions, ...database());
      expect(pushed.exitCode, pushed.stderr).toBe(0);

      // quick: two a second; slow: one at a time, and a start waits two seconds at most.
      await writeFile(
        join(dir, "queues.json"),
        JSON.stringify({
          queues: [
            { channel: "shop", behavior: "quick", ratePerSecond: 2, ttl: "1m" },
            { channel: "shop", behavior: "slow", ratePerSecond: 5, concurrency: 1, ttl: "2s" },
          ],
        }),
      );
      await writeFile(
        join(dir, "alerts.json"),
        JSON.stringify({
          rules: [{ name: "queued-starts-expired", kind: "raised" }],
          sinks: [
            {
              name: "ops",
              kind: "webhook",
              url: `${notifyBase}/alerts`,
              secret: "env:CAPFLOW_TEST_QUEUE_ALERT_SECRET",
            },
          ],
        }),
      );
    }, 120_000);
    afterAll(async () => {
      for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
      receiver?.close();
      await rm(dir, { recursive: true, force: true });
      await db.drop();
    });

    function database() {
      return ["--database-url", databaseUrl!, "--schema", db.schema];
    }

    async function queuesFile(name: string, content: unknown): Promise<string> {
      const path = join(dir, name);
      await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
      return path;
    }

    test("a queues file is checked before anything runs, each mistake named with what to fix", async () => {
      const policy = { channel: "shop", behavior: "quick", ratePerSecond: 2, ttl: "1m" };
      const cases: [string, unknown, RegExp][] = [
        ["not-json.json", "{ queues: [", /is not JSON/],
        ["empty.json", { queues: [] }, /"queues" must be a list of at least one queue policy/],
        [
          "rate.json",
          { queues: [{ ...policy, ratePerSecond: 0 }] },
          /queues\/0\/ratePerSecond must be a number above 0/,
        ],
        [
          "ttl.json",
          { queues: [{ ...policy, ttl: "2 minutes" }] },
          /queues\/0\/ttl must be how long a start may wait, such as "90s"/,
        ],
        [
          "concurrency.json",
          { queues: [{ ...policy, concurrency: -1 }] },
          /queues\/0\/concurrency must be a whole number of 1 or more/,
        ],
        [
          "unknown-field.json",
          { queues: [{ ...policy, rate: 2 }] },
          /queues\/0 has an unknown field "rate"/,
        ],
        ["twice.json", { queues: [policy, policy] }, /queues shop\/quick a second time/],
        [
          "unknown-behavior.json",
          { queues: [{ ...policy, behavior: "refund" }] },
          /names behavior "refund" of channel "shop", which is not in the store: push it first/,
        ],
        [
          "unknown-channel.json",
          { queues: [{ ...policy, channel: "lanbank" }] },
          /names channel "lanbank", which is not in the store/,
        ],
      ];
      for (const [name, content, message] of cases) {
        const path = await queuesFile(name, content);
        const run = await runCapflow("worker", ...database(), "--exit-when-idle", "--queues", path);
        expect({ name, exitCode: run.exitCode }).toEqual({ name, exitCode: 1 });
        expect(run.stderr).toMatch(message);
      }
      const missing = await runCapflow(
        "serve",
        ...database(),
        "--queues",
        join(dir, "absent.json"),
      );
      expect(missing.exitCode).toBe(1);
      expect(missing.stderr).toMatch(/cannot read the queues file .*absent\.json/);
      const { rows } = await db.knex.raw(
        `SELECT count(*)::int AS n FROM "${db.schema}".queued_starts`,
      );
      expect(rows[0].n).toBe(0);
    }, 120_000);

    test("serve queues the intake's starts, serve and worker admit them at the pace set, and an expired start is told to its client", async () => {
      const { DATABASE_URL: _db, REDIS_URL: _redis, ...env } = process.env;
      const run = (...args: string[]) => {
        const child = spawn(
          process.execPath,
          [
            "--conditions=@capflow/source",
            "--import",
            "tsx",
            "packages/cli/src/main.ts",
            ...args,
            ...database(),
            "--queues",
            join(dir, "queues.json"),
            "--alerts",
            join(dir, "alerts.json"),
          ],
          { cwd: repositoryRoot, env, stdio: ["ignore", "pipe", "pipe"] },
        );
        children.push(child);
        const output = { text: "" };
        child.stdout?.on("data", (chunk) => {
          output.text += chunk;
        });
        child.stderr?.on("data", (chunk) => {
          output.text += chunk;
        });
        return { child, output, exited: once(child, "exit") };
      };
      const serve = run("serve", "--port", "0");
      const worker = run(
        "worker",
        "--notify-url",
        "http://127.0.0.1:9/unused",
        "--notify-secret",
        "env:CAPFLOW_TEST_QUEUE_NOTIFY_SECRET",
      );
      const until = async (what: string, done: () => boolean | Promise<boolean>) => {
        const deadline = Date.now() + 30_000;
        while (!(await done())) {
          if (Date.now() > deadline || serve.child.exitCode !== null) {
            throw new Error(`${what} did not happen:\n${serve.output.text}\n${worker.output.text}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      await until("serve listening", () => /capflow serve on http:/.test(serve.output.text));
      const base = /capflow serve on (http:\/\/[^ ]+) /.exec(serve.output.text)![1]!;

      const intake = async (method: string, path: string, value?: unknown) => {
        const body = value === undefined ? "" : JSON.stringify(value);
        const timestamp = String(Math.floor(Date.now() / 1000));
        const nonce = randomBytes(16).toString("hex");
        const data = signedString({
          method,
          path,
          timestamp,
          nonce,
          body: Buffer.from(body),
          fields: undefined,
          canonical: "rawBody",
        });
        const response = await fetch(`${base}${path}`, {
          method,
          headers: {
            "x-capflow-client": "platform",
            "x-capflow-timestamp": timestamp,
            "x-capflow-nonce": nonce,
            "x-capflow-signature": createHmac("sha256", clientSecret).update(data).digest("hex"),
            ...(value === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(value === undefined ? {} : { body }),
        });
        // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
        return { status: response.status, body: (await response.json()) as any };
      };
      const start = (behavior: string, businessKey: string, input: Record<string, unknown>) =>
        intake("POST", "/v1/instances", { channel: "shop", behavior, businessKey, input });

      const answers = [
        await start("quick", "Q-1", { amount: "10.00" }),
        await start("quick", "Q-2", { amount: "20.00" }),
        await start("quick", "Q-3", { amount: "30.00" }),
        // One at a time: S-1 is admitted and waits an hour in its delay, so S-2 never is.
        await start("slow", "S-1", {}),
        await start("slow", "S-2", {}),
      ];
      expect(answers.map((a) => [a.status, a.body.queuedStart?.status])).toEqual([
        [202, "queued"],
        [202, "queued"],
        [202, "queued"],
        [202, "queued"],
        [202, "queued"],
      ]);
      const expiredId = answers[4]!.body.queuedStart.id;

      await until("the quick starts admitted and settled, and S-2's expiry told", () => {
        const settled = received.filter((n) => n.body.type === "instance.succeeded");
        const expired = received.filter((n) => n.body.type === "start.expired");
        return settled.length === 3 && expired.length === 1 && alerts.length === 1;
      });
      // The node that expired it says so: the worker in a line, serve in its log.
      expect(`${worker.output.text}\n${serve.output.text}`).toMatch(
        /queued start shop\/slow S-2 expired unstarted|"behavior":"slow".*"msg":"queued start expired unstarted"/,
      );
      // The expiry raised the alert once, whichever node expired it.
      expect(alerts).toEqual([
        { type: "alert.firing", rule: "queued-starts-expired", subject: "shop/slow" },
      ]);
      expect(received.every((n) => n.verified && n.path === "/platform")).toBe(true);
      const expiry = received.find((n) => n.body.type === "start.expired")!;
      expect(expiry.body).toMatchObject({
        id: `${expiredId}.start.expired`,
        type: "start.expired",
        start: {
          id: expiredId,
          channel: "shop",
          behavior: "slow",
          businessKey: "S-2",
          attempts: 0,
        },
        error: null,
      });

      // The upstream reads each fate by business key; a repeat answers the same.
      const s2 = await intake("GET", "/v1/instances/shop/slow/S-2");
      expect([s2.status, s2.body.queuedStart.status]).toEqual([200, "expired"]);
      const s1 = await intake("GET", "/v1/instances/shop/slow/S-1");
      expect(s1.body.instance).toMatchObject({ businessKey: "S-1", status: "waiting" });
      const q1 = await intake("GET", "/v1/instances/shop/quick/Q-1");
      expect(q1.body.instance).toMatchObject({ status: "succeeded" });
      const again = await start("quick", "Q-1", { amount: "10.00" });
      expect([again.status, again.body.instance.id]).toEqual([200, q1.body.instance.id]);
      const { rows } = await db.knex.raw(
        `SELECT behavior, business_key, status FROM "${db.schema}".queued_starts ORDER BY seq`,
      );
      expect(rows).toEqual([
        { behavior: "quick", business_key: "Q-1", status: "started" },
        { behavior: "quick", business_key: "Q-2", status: "started" },
        { behavior: "quick", business_key: "Q-3", status: "started" },
        { behavior: "slow", business_key: "S-1", status: "started" },
        { behavior: "slow", business_key: "S-2", status: "expired" },
      ]);

      serve.child.kill("SIGTERM");
      worker.child.kill("SIGTERM");
      const [[serveCode], [workerCode]] = await Promise.all([serve.exited, worker.exited]);
      expect(serveCode, serve.output.text).toBe(0);
      expect(workerCode, worker.output.text).toBe(0);
    }, 60_000);
  },
);
