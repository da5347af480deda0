import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KnexStuckStore, openPgliteStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

describe("capflow instances stuck (PGlite)", () => {
  let dir: string;
  let db: string;
  const since = Date.UTC(2026, 11, 6, 1, 0, 0);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-stuck-"));
    db = join(dir, "db");
    const store = await openPgliteStore({ dataDir: db });
    try {
      await store.migrate();
      // As the monitor records them (its rounds are tested against PostgreSQL in store-knex).
      await new KnexStuckStore(store).recordBreaches([
        {
          instanceId: "i-1",
          channel: "lanbank",
          behavior: "loan",
          businessKey: "L-1",
          step: "wait",
          scope: "step",
          slaMs: 600_000,
          since,
          detectedAt: since + 660_000,
        },
        {
          instanceId: "i-2",
          channel: "meadow",
          behavior: "repay",
          businessKey: "R-9",
          step: "query",
          scope: "behavior",
          slaMs: 7_200_000,
          since: since + 1000,
          detectedAt: since + 7_300_000,
        },
      ]);
    } finally {
      await store.close();
    }
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("lists stuck instances as a table, longest stuck first", async () => {
    const run = await runCapflow("instances", "stuck", "--pglite", db);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^id +channel\/behavior +business key +step +limit +since +detected/);
    expect(lines[1]).toMatch(/^i-1 +lanbank\/loan +L-1 +wait +step 10m +2026-12-06T01:00:00.000Z/);
    expect(lines[2]).toMatch(/^i-2 +meadow\/repay +R-9 +query +behavior 2h /);
    expect(lines[3]).toBe("2 stuck instances");
  });

  test("--json prints one object per line; --channel filters", async () => {
    const run = await runCapflow(
      "instances",
      "stuck",
      "--pglite",
      db,
      "--json",
      "--channel",
      "meadow",
    );
    expect(run.exitCode).toBe(0);
    const rows = run.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(rows).toEqual([
      {
        instanceId: "i-2",
        channel: "meadow",
        behavior: "repay",
        businessKey: "R-9",
        step: "query",
        scope: "behavior",
        slaMs: 7_200_000,
        since: "2026-12-06T01:00:01.000Z",
        detectedAt: new Date(since + 7_300_000).toISOString(),
      },
    ]);
  });
});
