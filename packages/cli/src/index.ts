/**
 * @capflow/cli — the `capflow` command, also usable in-process.
 *
 * ```ts
 * import { runCli } from "@capflow/cli";
 *
 * const exitCode = await runCli(["validate", "./definitions"]);
 * ```
 */
export type { CliContext } from "./cli-context.ts";
export type { CapflowCommand } from "./command.ts";
export { builtInCommands } from "./commands/index.ts";
export { graphCommand } from "./commands/graph.ts";
export { validateCommand } from "./commands/validate.ts";
export { type CreateProgramOptions, createProgram, runCli } from "./program.ts";
