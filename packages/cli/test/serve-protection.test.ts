import { once } from "node:events";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestCertificateAuthority } from "@capflow/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";
import { type ServeProcess, spawnServe } from "./support/spawn-serve.ts";

const databaseUrl = process.env.DATABASE_URL;

interface Received {
  type: string;
  rule: string;
  subject: string;
}

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "capflow serve: stuck orders and alerts for operators (PostgreSQL)"
    : "capflow serve, stuck orders and alerts: skipped, set DATABASE_URL to run",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;
    let receiver: Server;
    let alertsUrl: string;
    const received: Received[] = [];
    const tokens: Record<string, string> = {};
    const serves: ServeProcess[] = [];

    const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];

    beforeAll(async () => {
      process.env.CAPFLOW_TEST_SERVE_ALERT_SECRET = "serve-alert-secret";
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-serve-protection-"));
      receiver = createServer((request, response) => {
        let body = "";
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => {
          body += chunk;
        });
        request.on("end", () => {
          const event = JSON.parse(body);
          received.push({ type: event.type, rule: event.alert.rule, subject: event.alert.subject });
          response.writeHead(204).end();
        });
      });
      receiver.listen(0, "127.0.0.1");
      await once(receiver, "listening");
      alertsUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;

      // The shop channel, and a behavior that waits a day at its first step: settled within two
      // hours, and at most half an hour at `settle`.
      const definitions = join(dir, "definitions");
      await cp(join(repositoryRoot, "packages/cli/test/fixtures/operations"), definitions, {
        recursive: true,
      });
      await writeFile(
        join(definitions, "shop.held.behavior.json"),
        JSON.stringify({
          channel: "shop",
          code: "held",
          sla: "2h",
          initial: "settle",
          steps: {
            settle: { kind: "delay", duration: "1d", next: "done", sla: "30m" },
            done: { kind: "terminal", outcome: "succeeded" },
          },
        }),
      );
      // The vault channel trusts a funder CA that expires in 30 days.
      await writeFile(
        join(definitions, "vault-ca.pem"),
        new TestCertificateAuthority("Vault funder CA").cert,
      );
      await writeFile(
        join(definitions, "vault.channel.json"),
        JSON.stringify({
          code: "vault",
          name: "A funder whose CA certificate expires soon",
          baseUrl: "https://127.0.0.1:9",
          timeZone: "Asia/Shanghai",
          crypto: { handler: "plain" },
          tls: { ca: ["file:vault-ca.pem"] },
          interfaces: {
            "vault.query": { method: "POST", path: "/query", timeout: "1s", idempotent: true },
          },
        }),
      );
      await writeFile(
        join(definitions, "vault.check.behavior.json"),
        JSON.stringify({
          channel: "vault",
          code: "check",
          initial: "done",
          steps: { done: { kind: "terminal", outcome: "succeeded" } },
        }),
      );
      const pushed = await runCapflow("push", definitions, ...database());
      expect(pushed.exitCode, pushed.stdout + pushed.stderr).toBe(0);
      for (const role of ["viewer", "operator"]) {
        const made = await runCapflow(
          "tokens",
          "create",
          ...database(),
          "--name",
          `${role}-1`,
          "--role",
          role,
          "--reason",
          "the protection tests",
        );
        expect(made.exitCode, made.stderr).toBe(0);
        tokens[role] = made.stdout.trim();
      }
    }, 120_000);
    afterAll(async () => {
      for (const serve of serves) if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
      receiver?.close();
      await rm(dir, { recursive: true, force: true });
      await db?.drop();
    });

    /** Starts an instance of shop/held, created (and at its step) three hours ago. */
    async function startHeld(businessKey: string): Promise<string> {
      const started = await runCapflow(
        "instances",
        "start",
        ...database(),
        "--channel",
        "shop",
        "--behavior",
        "held",
        "--key",
        businessKey,
        "--input",
        "{}",
        "--json",
      );
      expect(started.exitCode, started.stderr).toBe(0);
      const { id } = JSON.parse(started.stdout) as { id: string };
      await db.knex.raw(
        `UPDATE "${db.schema}".instances
        SET created_at = now() - interval '3 hours', step_entered_at = now() - interval '3 hours'
        WHERE id = ?`,
        [id],
      );
      return id;
    }

    async function serve(...args: string[]): Promise<{ process: ServeProcess; url: string }> {
      const process = spawnServe(["--port", "0", "--log-level", "warn", ...database(), ...args]);
      serves.push(process);
      await expect
        .poll(process.output, { timeout: 60_000 })
        .toMatch(/capflow serve on http:\/\/127\.0\.0\.1:\d+ /);
      return { process, url: /capflow serve on (http:\/\/[^ ]+)/.exec(process.output())![1]! };
    }

    async function stop(process: ServeProcess): Promise<void> {
      process.child.kill("SIGTERM");
      const [code] = await once(process.child, "exit");
      expect(code, process.output()).toBe(0);
    }

    const get = async (url: string, token?: string) => {
      const response = await fetch(url, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
      const text = await response.text();
      // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, text };
    };

    test("serve runs the stuck-order monitor: its breaches in GET /v1/ops/stuck and the gauge, for viewers only", async () => {
      const id = await startHeld("H-1");
      const { process, url } = await serve();
      try {
        await expect
          .poll(async () => (await get(`${url}/v1/ops/stuck`, tokens.viewer)).json?.items?.length, {
            timeout: 30_000,
          })
          .toBe(2);
        const stuck = await get(`${url}/v1/ops/stuck?channel=shop`, tokens.viewer);
        expect(stuck.status).toBe(200);
        expect(stuck.json.counts).toEqual([
          { channel: "shop", behavior: "held", step: "settle", count: 1 },
        ]);
        expect(
          stuck.json.items.map((item: { scope: string; slaMs: number }) => [
            item.scope,
            item.slaMs,
          ]),
        ).toEqual(
          expect.arrayContaining([
            ["behavior", 7_200_000],
            ["step", 1_800_000],
          ]),
        );
        expect(stuck.json.items[0]).toMatchObject({ instanceId: id, businessKey: "H-1" });
        // Each breach is logged once, as a warning.
        expect(process.output()).toMatch(/"event":"instance.stuck".*"businessKey":"H-1"/);
        expect(process.output().match(/"event":"instance.stuck"/g)).toHaveLength(2);

        const metrics = await get(`${url}/metrics`);
        expect(metrics.text).toContain(
          'capflow_stuck_instances{channel="shop",behavior="held",step="settle"} 1',
        );

        // As the operator endpoints: a token is needed, every role may read.
        expect((await get(`${url}/v1/ops/stuck`)).status).toBe(401);
        expect((await get(`${url}/v1/ops/stuck`, "cfo_forged_token")).status).toBe(401);
        expect((await get(`${url}/v1/ops/stuck`, tokens.operator)).status).toBe(200);
        expect((await get(`${url}/v1/ops/stuck?limit=0`, tokens.viewer)).status).toBe(400);
        // No --alerts: the alerts recorded in the database are listed all the same.
        const alerts = await get(`${url}/v1/ops/alerts`, tokens.viewer);
        expect(alerts).toMatchObject({ status: 200, json: { items: [] } });
        expect((await get(`${url}/v1/ops/alerts`)).status).toBe(401);
      } finally {
        await stop(process);
      }
    }, 120_000);

    test("serve --alerts: a stuck rule fires on what the monitor found, listed in GET /v1/ops/alerts with its history", async () => {
      await writeFile(
        join(dir, "alerts.json"),
        JSON.stringify({
          rules: [{ name: "stuck-orders", kind: "stuck", above: 0, severity: "critical" }],
          sinks: [
            {
              name: "ops",
              kind: "webhook",
              url: alertsUrl,
              secret: "env:CAPFLOW_TEST_SERVE_ALERT_SECRET",
            },
          ],
        }),
      );
      const { process, url } = await serve("--alerts", join(dir, "alerts.json"));
      try {
        // The first evaluation comes after the monitor's first round: no 30-second wait.
        await expect.poll(() => received.length, { timeout: 20_000 }).toBe(1);
        expect(received).toEqual([{ type: "alert.firing", rule: "stuck-orders", subject: "shop" }]);

        const alerts = await get(`${url}/v1/ops/alerts?status=firing`, tokens.viewer);
        expect(alerts.status).toBe(200);
        expect(alerts.json.items).toEqual([
          expect.objectContaining({
            rule: "stuck-orders",
            subject: "shop",
            severity: "critical",
            status: "firing",
            details: { channel: "shop", stuck: 1 },
          }),
        ]);
        const alertId = alerts.json.items[0].id as string;
        const history = await get(`${url}/v1/ops/alerts/${alertId}/history`, tokens.viewer);
        expect(history.status).toBe(200);
        expect(history.json.items).toEqual([
          expect.objectContaining({ event: "fired" }),
          expect.objectContaining({ event: "sent", sink: "ops" }),
        ]);

        expect((await get(`${url}/v1/ops/alerts/${alertId}/history`)).status).toBe(401);
        expect(
          (await get(`${url}/v1/ops/alerts/${alertId}/history`, "cfo_forged_token")).status,
        ).toBe(401);
        expect((await get(`${url}/v1/ops/alerts/${alertId}/history`, tokens.operator)).status).toBe(
          200,
        );
        expect((await get(`${url}/v1/ops/alerts/not-a-uuid/history`, tokens.viewer)).status).toBe(
          400,
        );
        expect((await get(`${url}/v1/ops/alerts?status=burning`, tokens.viewer)).status).toBe(400);
      } finally {
        await stop(process);
      }
    }, 120_000);

    test("serve and worker --alerts: a certificate-expiry rule fires for a channel's certificate expiring within its days", async () => {
      const definitions = join(dir, "definitions");
      const rulesFile = async (name: string) => {
        const file = join(dir, `${name}.json`);
        await writeFile(
          file,
          JSON.stringify({
            rules: [{ name, kind: "certificate-expiry", withinDays: 60 }],
            sinks: [
              {
                name: "ops",
                kind: "webhook",
                url: alertsUrl,
                secret: "env:CAPFLOW_TEST_SERVE_ALERT_SECRET",
              },
            ],
          }),
        );
        return file;
      };
      const fired = (rule: string) => received.filter((r) => r.rule === rule);

      // The stored channel's `file:` reference resolves against --keys-dir, as for the engine.
      const { process, url } = await serve(
        "--alerts",
        await rulesFile("serve-certificates"),
        "--keys-dir",
        definitions,
      );
      try {
        await expect.poll(() => fired("serve-certificates").length, { timeout: 20_000 }).toBe(1);
        expect(fired("serve-certificates")).toEqual([
          { type: "alert.firing", rule: "serve-certificates", subject: "vault /tls/ca/0" },
        ]);
        const alerts = await get(`${url}/v1/ops/alerts?status=firing`, tokens.viewer);
        expect(
          alerts.json.items.find((a: { rule: string }) => a.rule === "serve-certificates"),
        ).toMatchObject({
          subject: "vault /tls/ca/0",
          summary: expect.stringMatching(
            /^the certificate CN=Vault funder CA of vault in file:vault-ca\.pem expires on \S+, in (29|30) days/,
          ),
        });
      } finally {
        await stop(process);
      }

      const worker = await runCapflow(
        "worker",
        ...database(),
        "--exit-when-idle",
        "--alerts",
        await rulesFile("worker-certificates"),
        "--keys-dir",
        definitions,
      );
      expect(worker.exitCode, worker.stderr).toBe(0);
      expect(fired("worker-certificates")).toEqual([
        { type: "alert.firing", rule: "worker-certificates", subject: "vault /tls/ca/0" },
      ]);
    }, 120_000);
  },
);
