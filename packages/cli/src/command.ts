import type { Command } from "commander";
import type { CliContext } from "./cli-context.ts";

/**
 * One `capflow` sub-command. A command module exports one of these; adding a command means
 * adding a file under commands/ and one line to the list in commands/index.ts.
 */
export interface CapflowCommand {
  /** The sub-command name, e.g. `validate`. */
  name: string;
  /** Adds the sub-command to the program (use `program.command(name)`). */
  register(program: Command, context: CliContext): void;
}
