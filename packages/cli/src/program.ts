import { createRequire } from "node:module";
import { isCapflowError } from "@capflow/core";
import { Command, CommanderError } from "commander";
import type { CliContext } from "./cli-context.ts";
import type { CapflowCommand } from "./command.ts";
import { builtInCommands } from "./commands/index.ts";
import { describeError } from "./describe-error.ts";
import { pipeWriter } from "./pipe-writer.ts";

export interface CreateProgramOptions {
  /** Where commands write and resolve paths. Default: the process's streams and cwd. */
  context?: Partial<CliContext>;
  /** The commands to offer. Default: every built-in command. */
  commands?: readonly CapflowCommand[];
}

/**
 * Builds the `capflow` commander program. It never calls `process.exit`: parse errors and
 * `--help` surface as a `CommanderError` (see {@link runCli}), so it can run inside tests.
 */
export function createProgram(options: CreateProgramOptions = {}): Command {
  const context = createContext(options.context);
  const program = new Command("capflow")
    .description("capflow: funder integrations as configuration")
    .version(version(), "-v, --version")
    .showHelpAfterError()
    // Before adding sub-commands: they inherit output and exit handling from the program.
    .configureOutput({ writeOut: context.out, writeErr: context.err })
    .exitOverride();
  for (const command of options.commands ?? builtInCommands) command.register(program, context);
  return program;
}

/**
 * Runs `capflow` with the given arguments (without `node` and the script path) and resolves to
 * the exit code. Usage errors and engine errors (`CapflowError`, as `error: [CODE] message`) are
 * printed, not thrown.
 */
export async function runCli(
  args: readonly string[],
  options: CreateProgramOptions = {},
): Promise<number> {
  let exitCode = 0;
  const context = createContext({
    ...options.context,
    setExitCode: (code) => {
      exitCode = code;
    },
  });
  const program = createProgram({ ...options, context });
  try {
    await program.parseAsync([...args], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (isCapflowError(error)) {
      context.err(`error: ${describeError(error)}\n`);
      return 1;
    }
    throw error;
  }
}

function createContext(context: Partial<CliContext> = {}): CliContext {
  return {
    out: context.out ?? standardOutput(),
    err: context.err ?? standardError(),
    cwd: context.cwd ?? process.cwd(),
    setExitCode:
      context.setExitCode ??
      ((code) => {
        process.exitCode = code;
      }),
  };
}

function version(): string {
  // Resolves from both src/ and dist/ to the package's own package.json.
  const manifest = createRequire(import.meta.url)("../package.json") as { version: string };
  return manifest.version;
}

// One guarded writer per stream for the whole process (listeners are added once).
let stdoutWriter: ((text: string) => void) | undefined;
let stderrWriter: ((text: string) => void) | undefined;
const standardOutput = () => (stdoutWriter ??= pipeWriter(process.stdout));
const standardError = () => (stderrWriter ??= pipeWriter(process.stderr));
