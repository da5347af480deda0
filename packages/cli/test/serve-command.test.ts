import { createHmac } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { jsonCodec, plainCryptoHandler } from "@capflow/core";
import { intakeHeaders, signedString } from "@capflow/server";
import { type MockFunder, startMockFunder } from "@capflow/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";
import { spawnServe } from "./support/spawn-serve.ts";

const shopSecret = "a shared secret of the shop's intake client";

describe("capflow serve --worker with capflow instances start (PGlite)", () => {
  let dir: string;
  let funder: MockFunder;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-serve-"));
    funder = await startMockFunder({
      handler: await plainCryptoHandler.create({}, {} as never),
      codec: jsonCodec,
      endpoints: {
        "POST /pay/apply": { answer: () => ({ body: { code: "SUCCESS", payNo: "P-1" } }) },
      },
    });
    await writeFile(
      join(dir, "pay.channel.json"),
      JSON.stringify({
        code: "pay",
        name: "A funder on loopback",
        baseUrl: funder.url,
        timeZone: "Asia/Shanghai",
        crypto: { handler: "plain" },
        interfaces: {
          "pay.apply": { method: "POST", path: "/pay/apply", timeout: "5s", idempotent: true },
        },
        masking: { fields: { mobile: "phone" } },
      }),
    );
    await writeFile(
      join(dir, "pay.order.behavior.json"),
      JSON.stringify({
        channel: "pay",
        code: "order",
        initial: "apply",
        steps: {
          apply: {
            kind: "call",
            interface: "pay.apply",
            request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
            response: { format: "json" },
            routes: [{ when: 'body.code == "SUCCESS"', to: "done" }],
            otherwise: "failed",
          },
          done: { kind: "terminal", outcome: "succeeded" },
          failed: { kind: "terminal", outcome: "failed" },
        },
      }),
    );
    // An answer no route takes: the instance is parked at its first step.
    await writeFile(
      join(dir, "pay.refund.behavior.json"),
      JSON.stringify({
        channel: "pay",
        code: "refund",
        initial: "apply",
        steps: {
          apply: {
            kind: "call",
            interface: "pay.apply",
            request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
            response: { format: "json" },
            routes: [{ when: 'body.code == "REFUNDED"', to: "done" }],
          },
          done: { kind: "terminal", outcome: "succeeded" },
        },
      }),
    );
    await writeFile(
      join(dir, "shop.client.json"),
      JSON.stringify({
        id: "shop",
        signature: { algorithm: "hmac-sha256", key: { ref: "env:SHOP_INTAKE_SECRET" } },
        allowedIps: ["127.0.0.1/32", "::1/128"],
        allow: { behaviors: ["pay/order"] },
      }),
    );
    process.env.SHOP_INTAKE_SECRET = shopSecret;
    const pushed = await runCapflow("push", dir, "--pglite", join(dir, "db"));
    expect(pushed.stderr).toBe("");
    expect(pushed.exitCode).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await funder?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("an instance started from the CLI settles against the funder; SIGTERM stops it cleanly", async () => {
    const db = join(dir, "db");
    const serve = spawnServe(["--worker", "--pglite", db, "--port", "0", "--log-level", "warn"]);
    try {
      await expect
        .poll(serve.output, { timeout: 60_000 })
        .toMatch(/capflow serve on http:\/\/127\.0\.0\.1:\d+ .* with a worker/);
      const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      await writeFile(
        join(dir, "input.json"),
        JSON.stringify({ orderNo: "O-1", mobile: "13800138000" }),
      );
      const startO1 = ["start", "--pglite", db, "--channel", "pay", "--behavior", "order"];
      const withoutReason = await runCapflow(
        "instances",
        ...[...startO1, "--key", "O-1", "--input", `@${join(dir, "input.json")}`],
      );
      expect(withoutReason.exitCode).toBe(1);
      expect(withoutReason.stderr).toContain("add --reason <text>");
      const started = await runCapflow(
        "instances",
        ...[...startO1, "--key", "O-1", "--input", `@${join(dir, "input.json")}`],
        ...["--reason", "the shop's checkout lost this order", "--json"],
      );
      expect(started.stderr).toBe("");
      expect(started.exitCode).toBe(0);
      const instance = JSON.parse(started.stdout) as { id: string; businessKey: string };
      expect(instance.businessKey).toBe("O-1");
      const waited = await runCapflow(
        "instances",
        "start",
        "--pglite",
        db,
        "--channel",
        "pay",
        "--behavior",
        "order",
        "--key",
        "O-1",
        "--input",
        `@${join(dir, "input.json")}`,
        "--reason",
        "the shop's checkout lost this order",
        "--wait",
        "30",
      );
      expect(waited.exitCode).toBe(0);
      expect(waited.stdout).toBe(`${instance.id} pay/order O-1: succeeded at done\n`);

      // Read commands go through the server's operator API, as instances start does.
      const shownByCli = await runCapflow("instances", "show", instance.id, "--pglite", db);
      expect(shownByCli.stderr).toBe("");
      expect(shownByCli.exitCode).toBe(0);
      expect(shownByCli.stdout).toMatch(new RegExp(`^instance +${instance.id}\n`));
      expect(shownByCli.stdout).toMatch(/^status +succeeded$/m);
      expect(shownByCli.stdout).toMatch(/^input +\{.*"mobile":"138\*{4}8000".*\}$/m);
      expect(shownByCli.stdout).toMatch(/capflow-serve-local: the shop's checkout lost this order/);
      const listedByCli = await runCapflow("instances", "list", "--pglite", db, "--channel", "pay");
      expect(listedByCli.exitCode).toBe(0);
      expect(listedByCli.stdout).toMatch(
        new RegExp(`^${instance.id} +pay/order +O-1 +done +succeeded `, "m"),
      );
      expect(listedByCli.stdout).toMatch(/^1 instance\n$/m);
      const watchedByCli = await runCapflow(
        "instances",
        ...["watch", instance.id, "--pglite", db, "--timeout", "20"],
      );
      expect(watchedByCli.stderr).toBe("");
      expect(watchedByCli.exitCode).toBe(0);
      expect(watchedByCli.stdout).toMatch(new RegExp(`^pay/order O-1 \\(${instance.id}\\)\n`));
      expect(watchedByCli.stdout).toMatch(
        /capflow-serve-local: the shop's checkout lost this order/,
      );
      expect(watchedByCli.stdout).toMatch(/\nsettled: succeeded at done\n$/);
      // The others cannot open the folder the server holds: they say what to do instead.
      const tokens = await runCapflow("tokens", "list", "--pglite", db);
      expect(tokens.exitCode).toBe(1);
      expect(tokens.stderr).toBe(
        `error: [STORE_UNAVAILABLE] capflow serve (pid ${serve.child.pid}) holds the PGlite folder ${db}, and PGlite serves one process at a time: stop capflow serve (pid ${serve.child.pid}) and run this again, or open the console at ${url}/console (the operator API: ${url}/v1/ops/instances); capflow instances list, show, watch and start go through it\n`,
      );

      // Parked at once: --wait stops there, with the error and where to look, and exits 1.
      const begun = Date.now();
      const parked = await runCapflow(
        "instances",
        ...["start", "--pglite", db, "--channel", "pay", "--behavior", "refund", "--key", "R-1"],
        ...["--input", '{"orderNo":"R-1"}', "--reason", "a refund by hand", "--wait", "60"],
      );
      expect(Date.now() - begun).toBeLessThan(30_000);
      expect(parked.exitCode).toBe(1);
      expect(parked.stdout).toMatch(
        /^(\w+) pay\/refund R-1: parked at apply with [A-Z_]+: .*; see capflow instances show \1\n$/,
      );

      // The serve process owns the folder: read through its operator API with its local token.
      const { token } = JSON.parse(await readFile(`${db}.serve.json`, "utf8")) as { token: string };
      await expect
        .poll(
          async () => {
            const answer = await fetch(`${url}/v1/ops/instances/${instance.id}`, {
              headers: { authorization: `Bearer ${token}` },
            });
            return ((await answer.json()) as { instance: { status: string } }).instance.status;
          },
          { timeout: 30_000 },
        )
        .toBe("succeeded");
      const shown = await fetch(`${url}/v1/ops/instances/${instance.id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const { history } = ((await shown.json()) as { instance: { history: unknown[] } }).instance;
      // Started once, by the server's local operator, with the reason given; a second start
      // of the same key changed nothing and recorded nothing.
      expect(history.filter((entry) => (entry as { event: string }).event === "started")).toEqual([
        expect.objectContaining({
          actor: { who: "capflow-serve-local", why: "the shop's checkout lost this order" },
        }),
      ]);
      expect(funder.requests().length).toBe(2);

      serve.child.kill("SIGTERM");
      const code = await new Promise((resolve) => serve.child.once("exit", resolve));
      expect(code).toBe(0);
      expect(serve.output()).toContain("SIGTERM: no new requests");
      expect(serve.output()).toMatch(/stopped\n$/);
      await expect(readFile(`${db}.serve.json`, "utf8")).rejects.toThrow();
      // Its token died with it.
      const listed = await runCapflow("tokens", "list", "--pglite", db, "--json");
      expect(listed.stdout).toMatch(/"name":"capflow-serve-local".*"revokedAt":\d+/);
    } finally {
      if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
    }
  }, 120_000);

  test("serve --worker --notify-url posts a signed notification when the instance settles", async () => {
    const received: { id: string; type: string; signature: string; expected: string }[] = [];
    const receiver = createHttpServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => {
        const id = String(request.headers["capflow-event-id"]);
        const timestamp = String(request.headers["capflow-timestamp"]);
        received.push({
          id,
          type: (JSON.parse(body) as { type: string }).type,
          signature: String(request.headers["capflow-signature"]),
          expected: createHmac("sha256", "serve-notify-secret")
            .update(`${timestamp}.${id}.${body}`)
            .digest("base64"),
        });
        response.writeHead(204).end();
      });
    });
    receiver.listen(0, "127.0.0.1");
    await once(receiver, "listening");
    const notifyUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`;
    const db = join(dir, "db");
    const serve = spawnServe(
      [
        "--worker",
        "--pglite",
        db,
        "--port",
        "0",
        "--log-level",
        "warn",
        "--notify-url",
        notifyUrl,
        "--notify-secret",
        "env:CAPFLOW_SERVE_NOTIFY_SECRET",
      ],
      { CAPFLOW_SERVE_NOTIFY_SECRET: "serve-notify-secret" },
    );
    try {
      await expect
        .poll(serve.output, { timeout: 60_000 })
        .toMatch(/capflow serve on http:\/\/127\.0\.0\.1:\d+ .* with a worker/);
      const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
      const waited = await runCapflow(
        "instances",
        "start",
        "--pglite",
        db,
        "--channel",
        "pay",
        "--behavior",
        "order",
        "--key",
        "O-9",
        "--input",
        JSON.stringify({ orderNo: "O-9" }),
        "--reason",
        "a test order",
        "--wait",
        "30",
      );
      expect(waited.exitCode).toBe(0);
      await expect.poll(() => received.length, { timeout: 30_000 }).toBe(1);
      expect(received[0]).toMatchObject({ type: "instance.succeeded" });
      expect(received[0]?.signature).toBe(received[0]?.expected);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(
        /capflow_notifications_total\{type="instance.succeeded",result="delivered"\} 1/,
      );
      serve.child.kill("SIGTERM");
      expect(await new Promise((resolve) => serve.child.once("exit", resolve))).toBe(0);
    } finally {
      if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
      receiver.close();
    }
  }, 120_000);

  test("instances start --wait with no worker running says how long it waited, and exits 1", async () => {
    const db = join(dir, "db");
    const run = await runCapflow(
      "instances",
      ...["start", "--pglite", db, "--channel", "pay", "--behavior", "order", "--key", "O-W"],
      ...["--input", '{"orderNo":"O-W"}', "--wait", "1"],
    );
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(
      /^(\w+) pay\/order O-W: active at apply, due .*; not settled after 1 s; see capflow instances show \1\n$/,
    );
  }, 60_000);

  test("instances start refuses input that is not a JSON object, and a missing target", async () => {
    const db = join(dir, "db");
    const notJson = await runCapflow(
      "instances",
      "start",
      "--pglite",
      db,
      "--channel",
      "pay",
      "--behavior",
      "order",
      "--key",
      "O-2",
      "--input",
      "{nope",
    );
    expect(notJson.exitCode).toBe(1);
    expect(notJson.stderr).toContain("--input takes a JSON object");
    const noTarget = await runCapflow(
      "instances",
      "start",
      "--pglite",
      db,
      "--key",
      "O-2",
      "--input",
      "{}",
    );
    expect(noTarget.exitCode).toBe(1);
    expect(noTarget.stderr).toContain("--channel <code> --behavior <code>, or --product <code>");
  });

  test("tokens create prints a token once; list and revoke, each with who and why", async () => {
    const db = join(dir, "db");
    const create = ["tokens", "create", "--pglite", db, "--name", "alice", "--role", "admin"];
    const noReason = await runCapflow(...create);
    expect(noReason.exitCode).toBe(1);
    expect(noReason.stderr).toContain("--reason");
    const made = await runCapflow(...create, "--reason", "on call this quarter");
    expect(made.exitCode).toBe(0);
    expect(made.stdout).toMatch(/^cfo_[A-Za-z0-9_-]{43}\n$/);
    expect(made.stderr).toContain("shown this once");
    const leaky = await runCapflow(
      ...create.map((arg) => (arg === "alice" ? "bob" : arg)),
      "--reason",
      `replaces ${made.stdout.trim()}`,
    );
    expect(leaky.exitCode).toBe(1);
    expect(leaky.stderr).toContain("looks like an operator token");
    const user = `cli:${userInfo().username}`;
    const listed = await runCapflow("tokens", "list", "--pglite", db);
    expect(listed.stdout).toMatch(
      new RegExp(`alice +admin +\\S+ +${user} +on call this quarter +- `),
    );
    expect(listed.stdout).not.toContain(made.stdout.trim());
    expect(listed.stdout).not.toContain("bob");
    const unexplained = await runCapflow("tokens", "revoke", "alice", "--pglite", db);
    expect(unexplained.exitCode).toBe(1);
    const revoked = await runCapflow(
      "tokens",
      "revoke",
      "alice",
      "--pglite",
      db,
      "--reason",
      "left the team",
      "--who",
      "ops-bot",
    );
    expect(revoked.stdout).toMatch(/^revoked tok_\w+ \(alice\)\n$/);
    const json = await runCapflow("tokens", "list", "--pglite", db, "--json");
    // One JSON document per token: the folder holds the tokens earlier tests' servers made too.
    const listedJson = json.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { name: string });
    expect(listedJson.find((token) => token.name === "alice")).toMatchObject({
      name: "alice",
      createdBy: user,
      createdReason: "on call this quarter",
      revokedBy: "cli:ops-bot",
      revokedReason: "left the team",
    });
    expect(json.stdout).not.toContain(made.stdout.trim());
    const unknown = await runCapflow(
      "tokens",
      "revoke",
      "nobody",
      "--pglite",
      db,
      "--reason",
      "cleaning up",
    );
    expect(unknown.exitCode).toBe(1);
  });

  test("serves the intake API: a signed start is taken, a forged one refused", async () => {
    const db = join(dir, "db");
    const serve = spawnServe(["--pglite", db, "--port", "0", "--log-level", "warn"], {
      SHOP_INTAKE_SECRET: shopSecret,
    });
    try {
      await expect.poll(serve.output, { timeout: 60_000 }).toMatch(/capflow serve on http:/);
      const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
      const body = JSON.stringify({
        channel: "pay",
        behavior: "order",
        businessKey: "O-intake",
        input: { orderNo: "O-intake", mobile: "13800138000" },
      });
      const post = (signature: string, nonce: string) => {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const signed = signedString({
          method: "POST",
          path: "/v1/instances",
          timestamp,
          nonce,
          body: Buffer.from(body),
          fields: JSON.parse(body) as Record<string, unknown>,
          canonical: "sortedFields",
        });
        return fetch(`${url}/v1/instances`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            [intakeHeaders.client]: "shop",
            [intakeHeaders.timestamp]: timestamp,
            [intakeHeaders.nonce]: nonce,
            [intakeHeaders.signature]:
              signature || createHmac("sha256", shopSecret).update(signed).digest("base64"),
          },
          body,
        });
      };
      const forged = await post(Buffer.alloc(32).toString("base64"), "nonce-forged-000001");
      expect(forged.status).toBe(401);
      const taken = await post("", "nonce-genuine-00001");
      expect(taken.status).toBe(200);
      expect(await taken.json()).toMatchObject({ instance: { businessKey: "O-intake" } });
    } finally {
      serve.child.kill("SIGTERM");
      await once(serve.child, "exit");
    }
  }, 120_000);
});
