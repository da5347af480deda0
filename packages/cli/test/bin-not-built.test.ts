import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repositoryRoot } from "./support/run-capflow.ts";

const run = promisify(execFile);

/** The linked `capflow` command in a package folder whose path has a space and Chinese characters. */
describe("the capflow command before a build", () => {
  let folder: string;
  let bin: string;

  beforeAll(async () => {
    folder = join(await mkdtemp(join(tmpdir(), "capflow-bin-")), "资金 路由");
    await mkdir(join(folder, "bin"), { recursive: true });
    await writeFile(join(folder, "package.json"), '{ "type": "module" }\n');
    bin = join(folder, "bin", "capflow.js");
    await copyFile(join(repositoryRoot, "packages/cli/bin/capflow.js"), bin);
  });

  afterAll(async () => {
    await rm(join(folder, ".."), { recursive: true, force: true });
  });

  const capflow = () =>
    run(process.execPath, [bin, "--help"]).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  test("without dist/ it says to build, naming the file as it is on disk", async () => {
    await rm(join(folder, "dist"), { recursive: true, force: true });
    const result = await capflow();
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: [CONFIG_INVALID] capflow is not built (no ${join(folder, "dist", "main.js")}): run pnpm build in the repository, or pnpm capflow <command> to run it from the sources\n`,
    );
  });

  test("a module the built CLI imports that is missing is reported as it is, not as an unbuilt CLI", async () => {
    await mkdir(join(folder, "dist"), { recursive: true });
    await writeFile(join(folder, "dist", "main.js"), 'import "capflow-missing-dependency";\n');
    const result = await capflow();
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain("not built");
    expect(result.stderr).toContain("Cannot find package 'capflow-missing-dependency'");
  });

  test("built, it runs dist/main.js", async () => {
    await mkdir(join(folder, "dist"), { recursive: true });
    await writeFile(join(folder, "dist", "main.js"), 'process.stdout.write("ran\\n");\n');
    expect(await capflow()).toMatchObject({ code: 0, stdout: "ran\n" });
  });
});
