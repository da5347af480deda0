import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";

const definitions = "packages/store-knex/test/fixtures/definitions";

describe("capflow push and pull (PGlite)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-push-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("invalid definitions: prints the problems, pushes nothing, exits 1", async () => {
    const run = await runCapflow(
      "push",
      "packages/core/test/fixtures/definitions/references",
      "--pglite",
      join(dir, "never-opened"),
    );
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain("[unknown-interface]");
    expect(run.stderr).toContain("nothing pushed");
  });

  test("push stores the definitions, a second push changes nothing, pull writes them back", async () => {
    const db = join(dir, "db");
    const first = await runCapflow("push", definitions, "--pglite", db);
    expect(first.stderr).toBe("");
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toMatch(
      /^channel lanbank: added\nbehavior lanbank\/loan: added, now version 1\n1 channel, 1 behavior: 2 changed\nprocessors: \d+ added, 0 changed, 0 unchanged\npushed to PGlite at .*, schema capflow\n$/,
    );

    const again = await runCapflow("push", definitions, "--pglite", db);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("behavior lanbank/loan: unchanged (version 1)");
    expect(again.stdout).toContain("nothing changed");

    const out = join(dir, "pulled");
    const pulled = await runCapflow("pull", out, "--pglite", db);
    expect(pulled.exitCode).toBe(0);
    expect(pulled.stdout.split("\n").slice(0, 3)).toEqual([
      `${out}/lanbank/lanbank.channel.json`,
      `${out}/lanbank/loan.behavior.json`,
      expect.stringMatching(/^2 files written from PGlite at /),
    ]);
    const original = JSON.parse(
      await readFile(join(repositoryRoot, definitions, "lanbank/loan.behavior.json"), "utf8"),
    );
    expect(JSON.parse(await readFile(join(out, "lanbank/loan.behavior.json"), "utf8"))).toEqual(
      original,
    );
  }, 240_000);

  test("--json: one JSON document per command, problems and refusals included", async () => {
    const db = join(dir, "json-db");
    const invalid = await runCapflow(
      "push",
      "packages/core/test/fixtures/definitions/references",
      "--pglite",
      join(dir, "never-opened"),
      "--json",
    );
    expect(invalid.exitCode).toBe(1);
    const refused = JSON.parse(invalid.stdout) as { refused: string; problems: { code: string }[] };
    expect(refused.refused).toBe("nothing pushed");
    expect(refused.problems.map((problem) => problem.code)).toContain("unknown-interface");

    const migrated = await runCapflow("migrate", "--pglite", db, "--json");
    expect(migrated.exitCode).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({
      applied: expect.arrayContaining(["0001_initial"]),
    });

    const pushed = await runCapflow("push", definitions, "--pglite", db, "--json");
    expect(pushed.stderr).toBe("");
    expect(JSON.parse(pushed.stdout)).toMatchObject({
      pushed: true,
      forced: false,
      breaking: [],
      channels: [{ code: "lanbank", change: "added" }],
      behaviors: [{ channel: "lanbank", code: "loan", version: 1, change: "added" }],
    });

    const pulled = await runCapflow("pull", join(dir, "json-pulled"), "--pglite", db, "--json");
    expect(pulled.exitCode).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({
      files: ["lanbank/lanbank.channel.json", "lanbank/loan.behavior.json"],
    });
  }, 240_000);
});
