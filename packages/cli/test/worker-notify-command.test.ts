import { createHmac } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, ProcessorRegistry, registerBuiltinProcessors } from "@capflow/core";
import { openPgliteStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const secret = "worker-notify-test-secret";

describe("capflow worker --notify-url (PGlite)", () => {
  let dir: string;
  let db: string;
  let receiver: Server;
  let url: string;
  const received: { type: string; businessKey: string; verified: boolean }[] = [];

  beforeAll(async () => {
    process.env.CAPFLOW_TEST_NOTIFY_SECRET = secret;
    receiver = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => {
        const id = String(request.headers["capflow-event-id"]);
        const timestamp = String(request.headers["capflow-timestamp"]);
        const expected = createHmac("sha256", secret)
          .update(`${timestamp}.${id}.${body}`)
          .digest("base64");
        const event = JSON.parse(body);
        received.push({
          type: event.reason ? `${event.type}:${event.reason}` : event.type,
          businessKey: event.instance.businessKey,
          verified: expected === request.headers["capflow-signature"],
        });
        response.writeHead(204).end();
      });
    });
    receiver.listen(0, "127.0.0.1");
    await once(receiver, "listening");
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/capflow`;

    dir = await mkdtemp(join(tmpdir(), "capflow-cli-notify-"));
    db = join(dir, "db");
    expect(
      (await runCapflow("push", "packages/cli/test/fixtures/operations", "--pglite", db)).exitCode,
    ).toBe(0);
    const store = await openPgliteStore({ dataDir: db });
    const engine = createEngine({
      store: store.instances,
      definitions: store.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    await engine.start({
      channel: "shop",
      behavior: "quick",
      businessKey: "Q1",
      input: { amount: "10.00" },
    });
    await engine.start({
      channel: "shop",
      behavior: "quick",
      businessKey: "Q2",
      input: { amount: "0" },
    });
    await engine.start({
      channel: "shop",
      behavior: "slow",
      businessKey: "S2",
      input: { review: true },
    });
    await engine.close();
    await store.close();
  }, 120_000);
  afterAll(async () => {
    receiver?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a key is required, and the URL must be one", async () => {
    const unsigned = await runCapflow("worker", "--pglite", db, "--notify-url", url);
    expect(unsigned.exitCode).not.toBe(0);
    expect(unsigned.stderr).toMatch(/--notify-secret/);
    const notUrl = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--notify-url",
      "ftp://x",
      "--notify-secret",
      "env:CAPFLOW_TEST_NOTIFY_SECRET",
    );
    expect(notUrl.exitCode).not.toBe(0);
    expect(received).toEqual([]);
  }, 60_000);

  test("settled instances and manual reviews are posted, signed, before the worker exits", async () => {
    const run = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--exit-when-idle",
      "--notify-url",
      url,
      "--notify-secret",
      "env:CAPFLOW_TEST_NOTIFY_SECRET",
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(received.sort((a, b) => a.businessKey.localeCompare(b.businessKey))).toEqual([
      { type: "instance.succeeded", businessKey: "Q1", verified: true },
      { type: "instance.cancelled", businessKey: "Q2", verified: true },
      { type: "instance.attention:manual", businessKey: "S2", verified: true },
    ]);
  }, 60_000);
});
