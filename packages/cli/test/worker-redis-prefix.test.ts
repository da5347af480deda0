import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, ProcessorRegistry, registerBuiltinProcessors } from "@capflow/core";
import { openPgliteStore } from "@capflow/store-knex";
import { afterAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const redisUrl = process.env.REDIS_URL;

describe.skipIf(!redisUrl)("capflow worker --redis-key-prefix", () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("runs with its locks and limits under the given prefix", async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-prefix-"));
    const db = join(dir, "db");
    expect(
      (await runCapflow("push", "packages/cli/test/fixtures/operations", "--pglite", db)).exitCode,
    ).toBe(0);
    const store = await openPgliteStore({ dataDir: db });
    try {
      const engine = createEngine({
        store: store.instances,
        definitions: store.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
      });
      await engine.start({
        channel: "shop",
        behavior: "quick",
        businessKey: "Q1",
        input: { amount: "1.00" },
      });
      await engine.close();
    } finally {
      await store.close();
    }
    const run = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--redis-url",
      redisUrl!,
      "--redis-key-prefix",
      `capflow-test-${process.pid}:`,
      "--exit-when-idle",
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/with Redis locks and limits/);
    expect(run.stdout).toMatch(/shop\/quick Q1/);
  }, 180_000);
});
