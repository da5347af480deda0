import { resolve } from "node:path";
import { formatProblems, loadDefinitions } from "@capflow/core";
import { type PushResult, pushDefinitions, syncProcessors } from "@capflow/store-knex";
import type { CapflowCommand } from "../command.ts";
import {
  cryptoHandlersOptionHelp,
  type ExtensionOptions,
  loadExtensions,
  processorsOptionHelp,
} from "../extension-modules.ts";
import { plural } from "../plural.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface PushOptions extends DatabaseOptions, ExtensionOptions {
  migrate: boolean;
}

/**
 * `capflow push <dir>`: validates the definitions under a folder (as `capflow validate` does) and
 * stores them: channels upserted, a new behavior version only where a behavior changed. Also
 * records the metadata of the processors it validated with, for authoring tools.
 */
export const pushCommand: CapflowCommand = {
  name: "push",
  register(program, context) {
    addDatabaseOptions(
      program
        .command("push")
        .description(
          "validate the definitions under a folder and store them; a behavior gets a new version only when it changed",
        )
        .argument("<dir>", "folder of definitions")
        .option("-p, --processors <module...>", processorsOptionHelp)
        .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
        .option("--no-migrate", "do not create or update capflow's tables first"),
    ).action(async (dir: string, options: PushOptions) => {
      const extensions = await loadExtensions(options, context.cwd);
      const processors = extensions.processors;
      const loaded = await loadDefinitions(resolve(context.cwd, dir), extensions);
      if (loaded.problems.length > 0) {
        context.out(formatProblems(loaded.problems));
        context.err(`nothing pushed: fix the problems above (paths are relative to ${dir})\n`);
        context.setExitCode(1);
        return;
      }
      await withDatabase(options, context, async (db) => {
        if (options.migrate) await db.migrate();
        const result = await pushDefinitions(db, loaded);
        const synced = await syncProcessors(db, processors.list());
        context.out(describePush(result));
        context.out(
          `processors: ${synced.added.length} added, ${synced.changed.length} changed, ${synced.unchanged.length} unchanged\n`,
        );
        context.out(`pushed to ${db.target}\n`);
      });
    });
  },
};

function describePush(result: PushResult): string {
  const lines: string[] = [];
  for (const c of result.channels) lines.push(`channel ${c.code}: ${c.change}`);
  for (const b of result.behaviors) {
    const what =
      b.change === "unchanged"
        ? `unchanged (version ${b.version})`
        : `${b.change}, now version ${b.version}`;
    lines.push(`behavior ${b.channel}/${b.code}: ${what}`);
  }
  const changed =
    result.channels.filter((c) => c.change !== "unchanged").length +
    result.behaviors.filter((b) => b.change !== "unchanged").length;
  lines.push(
    `${plural(result.channels.length, "channel")}, ${plural(result.behaviors.length, "behavior")}: ${changed === 0 ? "nothing changed" : `${changed} changed`}`,
  );
  return `${lines.join("\n")}\n`;
}
