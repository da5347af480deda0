import { fileURLToPath } from "node:url";
import { runCli } from "../../src/program.ts";

export const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `capflow` in-process from the repository root, capturing its output. */
export async function runCapflow(...args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const exitCode = await runCli(args, {
    context: {
      cwd: repositoryRoot,
      out: (text) => {
        stdout += text;
      },
      err: (text) => {
        stderr += text;
      },
    },
  });
  return { exitCode, stdout, stderr };
}
