import { resolve } from "node:path";
import { pullDefinitions } from "@capflow/store-knex";
import type { CapflowCommand } from "../command.ts";
import { plural } from "../plural.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

/** `capflow pull <dir>`: writes the stored definitions (active versions) as files. */
export const pullCommand: CapflowCommand = {
  name: "pull",
  register(program, context) {
    addDatabaseOptions(
      program
        .command("pull")
        .description(
          "write every stored channel and active behavior version under a folder, as push reads them",
        )
        .argument("<dir>", "folder to write definitions into (created if missing)"),
    ).action(async (dir: string, options: DatabaseOptions) => {
      await withDatabase(options, context, async (db) => {
        const { files } = await pullDefinitions(db, resolve(context.cwd, dir));
        for (const file of files) context.out(`${dir.replace(/\/$/, "")}/${file}\n`);
        context.out(`${plural(files.length, "file")} written from ${db.target}\n`);
      });
    });
  },
};
