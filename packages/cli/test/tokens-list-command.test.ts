import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueOperatorToken } from "@capflow/server";
import { openPgliteStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

describe("capflow tokens list shows when each token was last used (PGlite)", () => {
  let dir: string;
  let db: string;
  let usedAt: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-tokens-"));
    db = join(dir, "db");
    const store = await openPgliteStore({ dataDir: db });
    try {
      await store.migrate();
      const reason = "tokens list tests";
      const used = await issueOperatorToken(store.operatorTokens, {
        name: "used",
        role: "viewer",
        reason,
      });
      await issueOperatorToken(store.operatorTokens, { name: "idle", role: "viewer", reason });
      expect(await store.operatorTokens.recordTokenUse(used.record.id)).toBe(true);
      const listed = await store.operatorTokens.listTokens();
      usedAt = listed.find((token) => token.name === "used")!.lastUsedAt!;
    } finally {
      await store.close();
    }
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("the table has a last used column: the time, or - for a token not used since it is kept", async () => {
    const listed = await runCapflow("tokens", "list", "--pglite", db);
    expect(listed.exitCode).toBe(0);
    const lines = listed.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/ last used$/);
    expect(lines.find((line) => / used +viewer /.test(line))).toMatch(
      new RegExp(` ${new Date(usedAt).toISOString()}$`),
    );
    expect(lines.find((line) => / idle +viewer /.test(line))).toMatch(/ -$/);
  });

  test("--json has lastUsedAt in epoch milliseconds, or null", async () => {
    const json = await runCapflow("tokens", "list", "--pglite", db, "--json");
    expect(json.exitCode).toBe(0);
    const tokens = json.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { name: string; lastUsedAt: number | null });
    expect(tokens.find((token) => token.name === "used")?.lastUsedAt).toBe(usedAt);
    expect(tokens.find((token) => token.name === "idle")?.lastUsedAt).toBeNull();
  });
});
