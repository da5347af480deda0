import { type ChildProcess, spawn } from "node:child_process";
import { repositoryRoot } from "./run-capflow.ts";

export interface ServeProcess {
  child: ChildProcess;
  /** Its stdout and stderr so far, interleaved. */
  output: () => string;
}

/**
 * `capflow serve` as its own process, the way `pnpm capflow serve` runs it: without the test's
 * `DATABASE_URL` and `REDIS_URL`, so only the options given choose its database.
 */
export function spawnServe(args: string[], extraEnv: Record<string, string> = {}): ServeProcess {
  const { DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env;
  const env = { ...inherited, ...extraEnv };
  const child = spawn(
    process.execPath,
    [
      "--conditions=@capflow/source",
      "--import",
      "tsx",
      "packages/cli/src/main.ts",
      "serve",
      ...args,
    ],
    { cwd: repositoryRoot, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  return { child, output: () => output };
}
