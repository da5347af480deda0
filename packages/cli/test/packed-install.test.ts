import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryRoot } from "./support/run-capflow.ts";

const run = promisify(execFile);

/**
 * What a user gets from the registry: every package packed as `pnpm pack` would publish it,
 * installed from those tarballs into a new project outside this repository (dependencies from the
 * local pnpm store, the registry when one is missing), then used the documented way: a TypeScript
 * processors module loaded by the installed `capflow`, `capflow validate`, `capflow push`, the
 * README's quick start, `capflow instances list`. Checks each package's `files` and `exports`,
 * and that its source maps point at files it ships.
 */
const packages = [
  "core",
  "store-knex",
  "lock-redis",
  "reconcile",
  "console",
  "server",
  "testkit",
  "cli",
];

describe("the packed packages, installed in a project of their own", { timeout: 180_000 }, () => {
  let project: string;
  let tarballs: Record<string, string>;

  beforeAll(async () => {
    // A clean build: files left in dist/ by an earlier build of a removed source would ship.
    for (const name of packages) {
      await rm(join(repositoryRoot, "packages", name, "dist"), { recursive: true, force: true });
    }
    await run("pnpm", ["build"], { cwd: repositoryRoot });
    project = await mkdtemp(join(tmpdir(), "capflow-installed-"));
    const packed = join(project, ".tarballs");
    await mkdir(packed);
    tarballs = {};
    for (const name of packages) {
      const { stdout } = await run("pnpm", ["pack", "--pack-destination", packed], {
        cwd: join(repositoryRoot, "packages", name),
      });
      tarballs[`@capflow/${name}`] = stdout.trim().split("\n").pop()!.trim();
    }
    const files = Object.fromEntries(
      Object.entries(tarballs).map(([name, path]) => [name, `file:${path}`]),
    );
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({
        name: "a-lending-platform",
        private: true,
        type: "module",
        dependencies: files,
        pnpm: { overrides: files, onlyBuiltDependencies: [] },
      }),
    );
    await run("pnpm", ["install", "--prefer-offline", "--config.confirmModulesPurge=false"], {
      cwd: project,
      env: { ...process.env, npm_config_workspace_dir: project },
    });
    await cp(join(repositoryRoot, "examples/lanbank/definitions"), join(project, "definitions"), {
      recursive: true,
    });
    await cp(join(repositoryRoot, "examples/lanbank/keys"), join(project, "keys"), {
      recursive: true,
    });
    await cp(
      join(repositoryRoot, "examples/docs-samples/my-processors.ts"),
      join(project, "my-processors.ts"),
    );
  }, 600_000);

  afterAll(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  // The project's own database: embedded PGlite in .capflow/db, whatever this machine has set.
  const env = () => {
    const { DATABASE_URL: _database, REDIS_URL: _redis, ...rest } = process.env;
    return rest;
  };
  const capflow = (...args: string[]) =>
    run(join(project, "node_modules/.bin/capflow"), args, { cwd: project, env: env() });

  it("is outside the workspace, with the packages from the tarballs", async () => {
    expect(relative(repositoryRoot, project).startsWith("..")).toBe(true);
    for (const name of packages) {
      const manifest = JSON.parse(
        await readFile(join(project, "node_modules/@capflow", name, "package.json"), "utf8"),
      ) as { version: string; dependencies?: Record<string, string> };
      expect(JSON.stringify(manifest.dependencies ?? {})).not.toContain("workspace:");
      const shipped = await readdir(join(project, "node_modules/@capflow", name));
      expect(shipped, name).toEqual(expect.arrayContaining(["LICENSE", "README.md", "dist"]));
      expect(shipped, name).not.toContain("test");
      expect(
        await listFiles(join(project, "node_modules/@capflow", name, "dist")),
        name,
      ).not.toContainEqual(expect.stringMatching(/tsbuildinfo$/));
    }
  });

  it("loads a TypeScript processors module in the installed CLI and validates with it", async () => {
    const { stdout } = await capflow("validate", "definitions", "--processors", "my-processors.ts");
    expect(stdout).toContain("no problems");
    const { stdout: listed } = await capflow("validate", "--json", "definitions");
    expect(JSON.parse(listed)).toEqual([]);
  });

  it("runs the quick start: push, start a business record, see it with capflow instances", async () => {
    await capflow("push", "definitions", "--processors", "my-processors.ts");
    await writeFile(join(project, "quick-start.mjs"), quickStart);
    const { stdout } = await run("node", ["quick-start.mjs"], { cwd: project, env: env() });
    const started = JSON.parse(stdout) as { id: string; channel: string; attempted: number };
    expect(started.channel).toBe("lanbank");
    expect(started.attempted).toBe(1);
    // One JSON object per line; a reader that stops early does not break it.
    const { stdout: listed } = await capflow("instances", "list", "--json");
    const lines = listed.trim().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([started.id]);
    const { stderr } = await run(
      "sh",
      ["-c", `${join(project, "node_modules/.bin/capflow")} instances list --json | head -c 1`],
      { cwd: project, env: env() },
    );
    expect(stderr).toBe("");
  });

  it("every export of every package loads, and its source maps point at shipped files", async () => {
    const entries = [
      "@capflow/core",
      "@capflow/core/internal",
      "@capflow/store-knex",
      "@capflow/lock-redis",
      "@capflow/reconcile",
      "@capflow/console",
      "@capflow/server",
      "@capflow/testkit",
      "@capflow/testkit/contracts",
      "@capflow/cli",
    ];
    const script = `for (const name of ${JSON.stringify(entries)}) { const m = await import(name); if (Object.keys(m).length === 0) throw new Error(name + " exports nothing"); }`;
    await run("node", ["--input-type=module", "-e", script], { cwd: project });

    for (const name of packages) {
      const dist = join(project, "node_modules/@capflow", name, "dist");
      for (const file of await listFiles(dist)) {
        if (!file.endsWith(".map")) continue;
        const map = JSON.parse(await readFile(file, "utf8")) as {
          sources: string[];
          sourcesContent?: (string | null)[];
        };
        for (const [index, source] of map.sources.entries()) {
          // A bundle's map (the console's) may carry its sources' text instead of pointing at them.
          if (typeof map.sourcesContent?.[index] === "string") continue;
          await expect(
            readFile(resolve(dirname(file), source)),
            `${file} -> ${source}`,
          ).resolves.toBeDefined();
        }
      }
    }
  });
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The README's quick start, as a plain module a project runs without a build. */
const quickStart = `
import { createServer } from "node:http";
import { callbackRequestListener, createEngine, ProcessorRegistry, registerBuiltinProcessors } from "@capflow/core";
import { openStore } from "@capflow/store-knex";

const db = await openStore({ pgliteDir: ".capflow/db" });
await db.migrate();
const processors = registerBuiltinProcessors(new ProcessorRegistry());
const engine = createEngine({ store: db.instances, definitions: db.definitions, processors });
const server = createServer(callbackRequestListener(engine)).listen(0, "127.0.0.1");
const instance = await engine.start({
  channel: "lanbank",
  behavior: "loan",
  businessKey: "L0001",
  input: {
    loanNo: "L0001", creditNo: "C-L0001", amount: "12500.00", termMonths: 12, purpose: "CONSUMPTION",
    customer: { name: "张三", idNo: "110101199003071234", mobile: "13800138000", bankCardNo: "6222020200112233445", bankCode: "ICBC" },
  },
});
const attempted = await engine.runDue({ limit: 1 });
console.log(JSON.stringify({ id: instance.id, channel: instance.channel, attempted }));
server.close();
await engine.close();
await db.close();
`;
