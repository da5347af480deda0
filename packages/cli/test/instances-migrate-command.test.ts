import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, ProcessorRegistry, registerBuiltinProcessors } from "@capflow/core";
import { openPgliteStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const fixtures = "packages/cli/test/fixtures/lifecycle";

describe("capflow instances migrate (PGlite)", () => {
  let dir: string;
  let db: string;
  let ids: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-migrate-"));
    db = join(dir, "db");
    expect((await runCapflow("push", `${fixtures}/v1`, "--pglite", db)).exitCode).toBe(0);
    const store = await openPgliteStore({ dataDir: db });
    try {
      const engine = createEngine({
        store: store.instances,
        definitions: store.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
      });
      ids = [];
      for (const orderNo of ["O-1", "O-2"]) {
        const input = { orderNo };
        ids.push(
          (await engine.start({ channel: "shop", behavior: "order", businessKey: orderNo, input }))
            .id,
        );
      }
      await engine.close();
    } finally {
      await store.close();
    }
    expect((await runCapflow("push", `${fixtures}/v2-renamed`, "--pglite", db)).exitCode).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const migrate = (...args: string[]) =>
    runCapflow(
      "instances",
      "migrate",
      "--pglite",
      db,
      "--behavior",
      "shop/order",
      "--from",
      "1",
      "--to",
      "2",
      ...args,
    );

  test("a dry run says what would be refused and why, then what would move with the mapping", async () => {
    const refused = await migrate("--dry-run");
    expect(refused.exitCode).toBe(0);
    expect(refused.stdout).toContain("shop/order version 1 → 2 (dry run: nothing moved)");
    expect(refused.stdout).toContain("would refuse 2 instances:");
    expect(refused.stdout).toContain(
      'at wait: 2 (step-missing): version 2 has no step "wait": map it with --map wait=<step>',
    );

    const mapped = await migrate("--dry-run", "--map", "wait=awaitResult", "--json");
    const report = JSON.parse(mapped.stdout);
    expect(report).toMatchObject({ dryRun: true, moved: 2, refused: 0 });
    expect(report.moves).toEqual([
      expect.objectContaining({
        fromStep: "wait",
        toStep: "awaitResult",
        how: "continue",
        count: 2,
      }),
    ]);
  }, 60_000);

  test("moving asks who and why, records them, and moves each instance once", async () => {
    const anonymous = await migrate("--map", "wait=awaitResult");
    expect(anonymous.exitCode).toBe(1);
    expect(anonymous.stderr).toContain("--who <name> --why <reason>");

    const run = await migrate(
      "--map",
      "wait=awaitResult",
      "--who",
      "alice",
      "--why",
      "the wait was renamed",
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("moved 2 instances:");
    expect(run.stdout).toContain("wait → awaitResult: 2, goes on where it is");

    const show = await runCapflow("instances", "show", ids[0]!, "--pglite", db);
    expect(show.stdout).toMatch(/shop\/order \(version 2\)/);
    expect(show.stdout).toMatch(
      /operator +migrate:1->2 +wait → awaitResult .*cli:alice: the wait was renamed/,
    );

    const again = await migrate("--map", "wait=awaitResult", "--who", "alice", "--why", "again");
    expect(again.stdout).toContain("moved 0 instances");
  }, 60_000);
});
