import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

describe("capflow instances start --who", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-start-who-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("without --reason it is refused before anything opens, rather than dropped", async () => {
    const folder = join(dir, "never-opened");
    const run = await runCapflow(
      ...["instances", "start", "--channel", "meadow", "--behavior", "loan", "--key", "W1"],
      ...["--input", "{}", "--who", "ops-li", "--pglite", folder],
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("[CONFIG_INVALID]");
    expect(run.stderr).toContain("add --reason <text>, or leave out --who");
    await expect(access(folder)).rejects.toThrow();
  }, 60_000);

  test("an empty --who is refused, saying what to pass", async () => {
    const folder = join(dir, "never-opened-either");
    const run = await runCapflow(
      ...["instances", "start", "--channel", "meadow", "--behavior", "loan", "--key", "W2"],
      ...["--input", "{}", "--who", "", "--reason", "by hand", "--pglite", folder],
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("[CONFIG_INVALID] --who is empty");
    await expect(access(folder)).rejects.toThrow();
  }, 60_000);
});
