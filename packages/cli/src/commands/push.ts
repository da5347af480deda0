import { CapflowError, planPush } from "@capflow/core";
import { type PushResult, pushDefinitions, syncProcessors } from "@capflow/store-knex";
import type { CapflowCommand } from "../command.ts";
import { commandLineOperator, whoOptionHelp } from "../command-line-operator.ts";
import {
  addDefinitionCheckOptions,
  type DefinitionCheckOptions,
  describeBreakingChanges,
  loadCheckedDefinitions,
} from "../definition-check.ts";
import { plural } from "../plural.ts";
import {
  addRawMessageKeysOption,
  checkRawMessageKeysFor,
  type RawMessageKeysOptions,
} from "../raw-message-keys-option.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface PushOptions extends DatabaseOptions, DefinitionCheckOptions, RawMessageKeysOptions {
  migrate: boolean;
  force?: boolean;
  who?: string;
  why?: string;
}

/**
 * `capflow push <dir>`: validates the definitions under a folder (as `capflow validate
 * --check-secrets` does), checks what running instances still need from them (`capflow diff`
 * shows the same), and stores them: channels upserted, a new behavior version only where a
 * behavior changed. A push that would break instances is refused unless `--force`d, and then
 * recorded with who forced it, why and what it broke. Also records the metadata of the processors
 * it validated with, for authoring tools.
 */
export const pushCommand: CapflowCommand = {
  name: "push",
  register(program, context) {
    addDatabaseOptions(
      addDefinitionCheckOptions(
        addRawMessageKeysOption(program.command("push"))
          .description(
            "validate the definitions under a folder, check what running instances need, and store them; a behavior gets a new version only when it changed",
          )
          .argument("<dir>", "folder of definitions")
          .option("--force", "store even if running instances would break (needs --who and --why)")
          .option("--who <name>", whoOptionHelp)
          .option("--why <reason>", "why (recorded; required with --force)")
          .option("--no-migrate", "do not create or update capflow's tables first")
          .option("--json", "print the outcome as JSON (problems and refusals included)"),
      ),
    ).action(async (dir: string, options: PushOptions) => {
      if (options.force === true && (!options.who || !options.why)) {
        throw new CapflowError(
          "CONFIG_INVALID",
          "a forced push is recorded with who forced it and why: add --who <name> --why <reason>",
        );
      }
      const who = commandLineOperator(options.who);
      const checked = await loadCheckedDefinitions(dir, options, context, "nothing pushed");
      if (checked === undefined) return;
      const { loaded, extensions } = checked;
      if (options.checkSecrets) await checkRawMessageKeysFor(loaded, options, context.cwd);
      await withDatabase(options, context, async (db) => {
        if (options.migrate) await db.migrate();
        const revision = await db.definitions.revision();
        const plan = await planPush({
          incoming: loaded,
          definitions: db.definitions,
          instances: db.instances,
          processors: extensions.processors,
        });
        const forced = plan.breaking.length > 0;
        if (forced) {
          if (options.json !== true) {
            context.out(`${describeBreakingChanges(plan.breaking).join("\n")}\n`);
          }
          if (options.force !== true) {
            if (options.json === true) {
              context.out(
                `${JSON.stringify({ refused: "nothing pushed", breaking: plan.breaking })}\n`,
              );
            }
            context.err(
              `nothing pushed: the push would break the instances above. Move them first (capflow instances migrate), keep what they need, or push with --force --who <name> --why <reason>\n`,
            );
            context.setExitCode(1);
            return;
          }
        }
        const result = await pushDefinitions(db, loaded, {
          expectedRevision: revision,
          record: {
            who,
            ...(options.why === undefined ? {} : { why: options.why }),
            forced,
            impact: plan.breaking,
          },
        });
        const synced = await syncProcessors(db, extensions.processors.list());
        if (options.json === true) {
          const processors = {
            added: synced.added.length,
            changed: synced.changed.length,
            unchanged: synced.unchanged.length,
          };
          const outcome = {
            pushed: true,
            target: db.target,
            schema: db.schema,
            ...result,
            forced,
            processors,
          };
          context.out(`${JSON.stringify({ ...outcome, breaking: plan.breaking })}\n`);
          return;
        }
        context.out(describePush(result));
        if (forced) {
          context.out(
            `forced past ${plural(plan.breaking.length, "breaking change")} by ${who}: recorded as push ${result.recorded}\n`,
          );
        }
        context.out(
          `processors: ${synced.added.length} added, ${synced.changed.length} changed, ${synced.unchanged.length} unchanged\n`,
        );
        context.out(`pushed to ${db.target}, schema ${db.schema}\n`);
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
  for (const p of result.products) lines.push(`product ${p.code}: ${p.change}`);
  for (const c of result.clients) lines.push(`client ${c.id}: ${c.change}`);
  const changed =
    result.clients.filter((c) => c.change !== "unchanged").length +
    result.channels.filter((c) => c.change !== "unchanged").length +
    result.behaviors.filter((b) => b.change !== "unchanged").length +
    result.products.filter((p) => p.change !== "unchanged").length;
  lines.push(
    `${plural(result.channels.length, "channel")}, ${plural(result.behaviors.length, "behavior")}${result.products.length > 0 ? `, ${plural(result.products.length, "product")}` : ""}${result.clients.length > 0 ? `, ${plural(result.clients.length, "client")}` : ""}: ${changed === 0 ? "nothing changed" : `${changed} changed`}`,
  );
  return `${lines.join("\n")}\n`;
}
