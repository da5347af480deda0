import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createEngine,
  jsonCodec,
  ProcessorRegistry,
  plainCryptoHandler,
  RawMessageKeyring,
  registerBuiltinProcessors,
} from "@capflow/core";
import { openPgliteStore } from "@capflow/store-knex";
import { type MockFunder, startMockFunder } from "@capflow/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const mobile = "13712345678";
const variable = "CAPFLOW_RAW_MESSAGE_KEYS";
const k1 = randomBytes(32).toString("base64");
const k2 = randomBytes(32).toString("base64");

/**
 * The raw message keys through the CLI: `push`, `worker` and `serve` refuse to keep messages
 * without them; `worker --keep-raw-messages` seals what it sends and receives with the key from
 * the environment; `capflow raw show` opens it again, only with the right keys; `capflow raw
 * reseal` moves it to the current key after a rotation.
 */
describe("raw messages with capflow worker and capflow raw (PGlite)", () => {
  let dir: string;
  let db: string;
  let funder: MockFunder;
  let id: string;

  afterEach(() => {
    delete process.env[variable];
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-raw-"));
    db = join(dir, "db");
    funder = await startMockFunder({
      handler: await plainCryptoHandler.create({}, {} as never),
      codec: jsonCodec,
      endpoints: {
        "POST /pay/apply": { answer: () => ({ body: { code: "ACCEPTED", payNo: "P-1" } }) },
      },
    });
    const definitions = join(dir, "definitions");
    await mkdir(definitions);
    await writeFile(
      join(definitions, "pay.channel.json"),
      JSON.stringify({
        code: "pay",
        name: "A funder on loopback",
        baseUrl: funder.url,
        timeZone: "Asia/Shanghai",
        crypto: { handler: "plain" },
        interfaces: {
          "pay.apply": { method: "POST", path: "/pay/apply", timeout: "5s", idempotent: true },
        },
        callbacks: {
          "pay.result": {
            format: "json",
            correlation: "body.orderNo",
            dedupeKey: "body.notifyId",
            keepRawBody: true,
            ack: { format: "json", body: { code: "0000" } },
          },
        },
        masking: { fields: { mobile: "phone" } },
      }),
    );
    await writeFile(
      join(definitions, "pay.order.behavior.json"),
      JSON.stringify({
        channel: "pay",
        code: "order",
        initial: "apply",
        steps: {
          apply: {
            kind: "call",
            interface: "pay.apply",
            request: {
              format: "json",
              body: { orderNo: "{{input.orderNo}}", mobile: "{{input.mobile}}" },
            },
            response: { format: "json" },
            routes: [{ when: 'body.code == "ACCEPTED"', to: "wait" }],
            otherwise: "failed",
          },
          wait: {
            kind: "callback",
            callback: "pay.result",
            deadline: "1h",
            onDeadline: "failed",
            routes: [{ when: "true", to: "done" }],
          },
          done: { kind: "terminal", outcome: "succeeded" },
          failed: { kind: "terminal", outcome: "failed" },
        },
      }),
    );

    // At push time, a callback keeping its notifications needs the keys.
    const refused = await runCapflow("push", definitions, "--pglite", db);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`pay callback "pay.result" keeps notifications as received`);
    expect(refused.stderr).toContain(variable);
    process.env[variable] = `k1=${k1}`;
    const pushed = await runCapflow("push", definitions, "--pglite", db);
    expect(pushed.stderr).toBe("");
    expect(pushed.exitCode).toBe(0);
    delete process.env[variable];

    const store = await openPgliteStore({ dataDir: db });
    try {
      const engine = createEngine({
        store: store.instances,
        definitions: store.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
        rawMessageKeys: RawMessageKeyring.parse(`k1=${k1}`),
      });
      id = (
        await engine.start({
          channel: "pay",
          behavior: "order",
          businessKey: "O-1",
          input: { orderNo: "O-1", mobile },
        })
      ).id;
      const ack = await engine.receiveCallback("pay", "pay.result", {
        method: "POST",
        path: "/callbacks/pay/pay.result",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ orderNo: "O-1", notifyId: "N-1", mobile }),
      });
      expect(ack.accepted).toBe(true);
      await engine.close();
    } finally {
      await store.close();
    }
  }, 120_000);
  afterAll(async () => {
    await funder?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("worker and serve refuse to keep messages without keys", async () => {
    for (const command of ["worker", "serve"]) {
      const run = await runCapflow(command, "--keep-raw-messages", "--pglite", join(dir, "never"));
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain("--keep-raw-messages stores messages as sent, encrypted");
      expect(run.stderr).toContain(variable);
    }
    // Stored channels keeping notifications: serve refuses to start without keys.
    const serve = await runCapflow("serve", "--pglite", db, "--port", "0");
    expect(serve.exitCode).toBe(1);
    expect(serve.stderr).toContain(`pay callback "pay.result" keeps notifications as received`);
    expect(serve.stdout).not.toContain("capflow serve on");
    process.env[variable] = "k1=not a key";
    const malformed = await runCapflow("worker", "--keep-raw-messages", "--pglite", join(dir, "x"));
    expect(malformed.exitCode).toBe(1);
    expect(malformed.stderr).toContain("raw message key entry 1 is not `keyId=<base64>`");
    expect(malformed.stderr).not.toContain("not a key");
  });

  test("worker --keep-raw-messages seals the exchange; raw show opens it, only with the right keys", async () => {
    const keyFile = join(dir, "raw-message.keys");
    await writeFile(keyFile, `k1=${k1}\n`);
    const worked = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--exit-when-idle",
      "--keep-raw-messages",
      "--raw-message-keys",
      `file:${keyFile}`,
    );
    expect(worked.stderr).toBe("");
    expect(worked.exitCode).toBe(0);
    expect(worked.stdout).toMatch(/succeeded pay\/order O-1 at done/);
    expect(worked.stdout).not.toContain(k1);
    expect(worked.stdout).not.toContain(mobile);
    expect(funder.requests()).toHaveLength(1);

    const shown = await runCapflow("instances", "show", id, "--pglite", db, "--json");
    expect(shown.stdout).not.toContain(mobile);
    expect(shown.stdout).not.toContain("keyId");

    const noKey = await runCapflow("raw", "show", id, "--pglite", db);
    expect(noKey.exitCode).toBe(1);
    expect(noKey.stderr).toContain(
      "raw messages are stored encrypted: set CAPFLOW_RAW_MESSAGE_KEYS",
    );

    // Rotated: k2 is current, k1 still reads what it sealed.
    process.env[variable] = `k2=${k2},k1=${k1}`;
    const opened = await runCapflow("raw", "show", id, "--pglite", db);
    expect(opened.stderr).toBe("");
    expect(opened.exitCode).toBe(0);
    expect(opened.stdout).toMatch(/^pay\/order O-1 \(/);
    expect(opened.stdout).toMatch(
      /step apply, attempt 1, .*\nrequest:\n\{.*"mobile":"13712345678"/,
    );
    expect(opened.stdout).toMatch(/response:\n\{.*"payNo":"P-1"/);
    expect(opened.stdout).toMatch(/notification pay.result N-1, .*\nbody:\n\{.*13712345678/);
    const json = JSON.parse((await runCapflow("raw", "show", id, "--pglite", db, "--json")).stdout);
    expect(json).toMatchObject({
      instance: id,
      exchanges: [{ step: "apply", request: expect.stringContaining(mobile) }],
      notifications: [{ callback: "pay.result", body: expect.stringContaining(mobile) }],
    });

    // k1 retired too early; other material under the id k1.
    for (const [keys, code] of [
      [`k2=${k2}`, "RAW_MESSAGE_KEY_UNKNOWN"],
      [`k1=${k2}`, "RAW_MESSAGE_DECRYPT_FAILED"],
    ] as const) {
      process.env[variable] = keys;
      const refused = await runCapflow("raw", "show", id, "--pglite", db);
      expect(refused.exitCode).toBe(1);
      expect(refused.stdout).toContain(code);
      expect(refused.stdout).not.toContain(mobile);
    }

    // Resealed with k2, k1 can be retired.
    process.env[variable] = `k2=${k2},k1=${k1}`;
    const resealed = await runCapflow("raw", "reseal", "--pglite", db);
    expect(resealed.stderr).toBe("");
    expect(resealed.exitCode).toBe(0);
    expect(resealed.stdout).toBe("sealed with key k2: 1 step log message, 1 notification\n");
    expect(resealed.stdout).not.toContain(k2);
    process.env[variable] = `k2=${k2}`;
    const again = await runCapflow("raw", "reseal", "--pglite", db, "--json");
    expect(JSON.parse(again.stdout)).toEqual({
      keyId: "k2",
      stepLogs: 0,
      inbox: 0,
      unreadable: [],
    });
    const retired = await runCapflow("raw", "show", id, "--pglite", db);
    expect(retired.exitCode).toBe(0);
    expect(retired.stdout).toContain(mobile);
  }, 120_000);
});
