import { planPush } from "@capflow/core";
import type { CapflowCommand } from "../command.ts";
import {
  addDefinitionCheckOptions,
  type DefinitionCheckOptions,
  describeBreakingChanges,
  describeDiff,
  loadCheckedDefinitions,
} from "../definition-check.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface DiffOptions extends DatabaseOptions, DefinitionCheckOptions {}

/**
 * `capflow diff <dir>`: what `capflow push <dir>` would change, per channel and behavior, and
 * what it would break for running instances. Stores nothing.
 */
export const diffCommand: CapflowCommand = {
  name: "diff",
  register(program, context) {
    addDatabaseOptions(
      addDefinitionCheckOptions(
        program
          .command("diff")
          .description(
            "show what a push of a folder would change, per channel and behavior, and which running instances it would break",
          )
          .argument("<dir>", "folder of definitions")
          .option("--json", "as JSON: channels, behaviors, breaking"),
      ),
    ).action(async (dir: string, options: DiffOptions) => {
      const checked = await loadCheckedDefinitions(dir, options, context, "nothing compared");
      if (checked === undefined) return;
      await withDatabase(options, context, async (db) => {
        // Reading only: a database without capflow's tables yet compares as empty.
        await db.migrate();
        const plan = await planPush({
          incoming: checked.loaded,
          definitions: db.definitions,
          instances: db.instances,
          processors: checked.extensions.processors,
        });
        if (options.json === true) {
          context.out(`${JSON.stringify({ ...plan.diff, breaking: plan.breaking }, null, 2)}\n`);
          return;
        }
        const lines = [...describeDiff(plan.diff), ...describeBreakingChanges(plan.breaking)];
        context.out(`${lines.join("\n")}\n`);
      });
    });
  },
};
