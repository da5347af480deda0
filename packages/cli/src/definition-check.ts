import { resolve } from "node:path";
import {
  type BreakingChange,
  createDefaultSecretResolver,
  type DefinitionDiff,
  type DefinitionSet,
  describeFieldChange,
  formatProblems,
  isError,
  loadDefinitions,
  systemClock,
} from "@capflow/core";
import type { Command } from "commander";
import type { CliContext } from "./cli-context.ts";
import { expiryWarning } from "./expiry-warning.ts";
import {
  cryptoHandlersOptionHelp,
  type ExtensionOptions,
  type Extensions,
  loadExtensions,
  processorsOptionHelp,
} from "./extension-modules.ts";
import { plural } from "./plural.ts";

/** Options of the commands that read a folder of definitions to store them (diff, push). */
export interface DefinitionCheckOptions extends ExtensionOptions {
  /** `--no-check-secrets` sets it to false. */
  checkSecrets: boolean;
  keysDir?: string;
  /** `--expiry-warning`: certificates expiring sooner are warned about. Default 30d. */
  expiryWarning?: string;
  /** Problems that stop the command are printed as one JSON document. */
  json?: boolean;
}

export function addDefinitionCheckOptions(command: Command): Command {
  return command
    .option("-p, --processors <module...>", processorsOptionHelp)
    .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
    .option(
      "--no-check-secrets",
      "do not load the channels' keys and certificates (when only the workers can resolve them)",
    )
    .option(
      "--keys-dir <dir>",
      "folder relative `file:` key references resolve against, as for `capflow worker` (default: the definitions folder)",
    )
    .option(
      "--expiry-warning <duration>",
      "warn about certificates expiring within this time (e.g. 60d; default 30d)",
    );
}

/**
 * Loads and validates the definitions under `dir`, with the channels' secrets resolved unless
 * turned off. Prints the problems; returns undefined (exit code 1 set) when any is an error.
 */
export async function loadCheckedDefinitions(
  dir: string,
  options: DefinitionCheckOptions,
  context: CliContext,
  /** What the command says it did not do: `nothing pushed`. */
  refusal: string,
): Promise<{ loaded: DefinitionSet; extensions: Extensions } | undefined> {
  const extensions = await loadExtensions(options, context.cwd);
  const folder = resolve(context.cwd, dir);
  const loaded = await loadDefinitions(folder, {
    ...extensions,
    ...(options.checkSecrets
      ? {
          checkSecrets: {
            cryptoHandlers: extensions.cryptoHandlers,
            secrets: createDefaultSecretResolver(),
            baseDir: resolve(context.cwd, options.keysDir ?? dir),
            clock: systemClock,
            ...(options.expiryWarning === undefined
              ? {}
              : { expiryWarning: expiryWarning(options.expiryWarning) }),
          },
        }
      : {}),
  });
  const failed = loaded.problems.some(isError);
  if (options.json === true) {
    // stdout holds one JSON document: problems go in it when they stop the command, else to stderr.
    if (failed) context.out(`${JSON.stringify({ refused: refusal, problems: loaded.problems })}\n`);
    else if (loaded.problems.length > 0) context.err(formatProblems(loaded.problems));
  } else if (loaded.problems.length > 0) {
    context.out(formatProblems(loaded.problems));
  }
  if (failed) {
    context.err(`${refusal}: fix the problems above (paths are relative to ${dir})\n`);
    context.setExitCode(1);
    return undefined;
  }
  return { loaded, extensions };
}

/** A diff in words: one line per definition, then one per change, indented. */
export function describeDiff(diff: DefinitionDiff): string[] {
  const lines: string[] = [];
  for (const channel of diff.channels) {
    lines.push(`channel ${channel.code}: ${channel.change}`);
    for (const field of channel.fields) lines.push(`  ${describeFieldChange(field)}`);
  }
  for (const behavior of diff.behaviors) {
    const active =
      behavior.activeVersion === undefined
        ? ""
        : ` (active now: version ${behavior.activeVersion})`;
    const what =
      behavior.change === "unchanged"
        ? `unchanged${active}`
        : behavior.change === "added"
          ? "added, as version 1"
          : `changed, becomes a new version${active}`;
    lines.push(`behavior ${behavior.channel}/${behavior.code}: ${what}`);
    for (const field of behavior.fields) lines.push(`  ${describeFieldChange(field)}`);
  }
  return lines;
}

/** The breaking changes with their instances: counts per step and a few examples. */
export function describeBreakingChanges(breaking: readonly BreakingChange[]): string[] {
  if (breaking.length === 0) return ["nothing breaks for running or new instances"];
  const lines = [`${plural(breaking.length, "breaking change")}:`];
  for (const change of breaking) {
    lines.push(`  ${change.message}`);
    if (change.byStep.length > 0) {
      lines.push(`    at step ${change.byStep.map((s) => `${s.step}: ${s.count}`).join(", ")}`);
    }
    if (change.examples.length > 0) {
      const more = change.instances - change.examples.length;
      lines.push(
        `    e.g. ${change.examples.map((e) => `${e.id} (${e.businessKey})`).join(", ")}${more > 0 ? ` and ${more} more` : ""}`,
      );
    }
  }
  return lines;
}
