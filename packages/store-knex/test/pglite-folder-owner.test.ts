import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { isCapflowError } from "@capflow/core";
import { afterEach, describe, expect, it } from "vitest";
import { openPgliteStore } from "../src/open-store.ts";

const run = promisify(execFile);

describe("a PGlite folder has one owner at a time", () => {
  const dirs: string[] = [];
  const newDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-pglite-owner-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("a second process is refused with an error naming the holder; the data is untouched", async () => {
    const dir = await newDir();
    const db = await openPgliteStore({ dataDir: dir });
    await db.migrate();
    try {
      const script = `
        import { openPgliteStore } from "@capflow/store-knex";
        try { await openPgliteStore({ dataDir: ${JSON.stringify(dir)} }); console.log("opened"); }
        catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
      `;
      const { stdout } = await run(
        process.execPath,
        ["--conditions=@capflow/source", "--import", "tsx", "--input-type=module", "-e", script],
        { cwd: join(import.meta.dirname, ".."), timeout: 100_000 },
      );
      const refused = JSON.parse(stdout) as { code: string; message: string };
      expect(refused.code).toBe("STORE_UNAVAILABLE");
      expect(refused.message).toContain(`in use by process ${process.pid} on ${hostname()}`);
      expect(refused.message).toContain("use PostgreSQL");
      // The owner still works with its data.
      expect(await db.instances.listInstances({})).toEqual([]);
    } finally {
      await db.close();
    }
  }, 120_000);

  it("within one process too, until the owner closes it", async () => {
    const dir = await newDir();
    // Each database is used before it closes: PGlite starts in the background, and a folder
    // removed under a start still running fails it.
    const first = await openPgliteStore({ dataDir: dir });
    await first.migrate();
    const error = await openPgliteStore({ dataDir: dir }).catch((e: unknown) => e);
    expect(isCapflowError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(false);
    await first.close();
    const second = await openPgliteStore({ dataDir: dir });
    await second.migrate();
    await second.close();
  }, 60_000);

  it("takes over a folder whose owner is gone", async () => {
    const dir = await newDir();
    const gone = spawn(process.execPath, ["-e", ""]);
    const pid = gone.pid!;
    await new Promise((resolve) => gone.on("exit", resolve));
    await writeFile(
      join(dir, "capflow-owner.json"),
      JSON.stringify({ pid, host: hostname(), command: "capflow worker", since: "2026-01-01" }),
    );
    const db = await openPgliteStore({ dataDir: dir });
    await db.migrate();
    const owner = JSON.parse(await readFile(join(dir, "capflow-owner.json"), "utf8")) as {
      pid: number;
    };
    expect(owner.pid).toBe(process.pid);
    await db.close();
    await expect(readFile(join(dir, "capflow-owner.json"))).rejects.toThrow();
  }, 60_000);
});
