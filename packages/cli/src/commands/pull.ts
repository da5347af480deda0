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
        .argument("<dir>", "folder to write definitions into (created if missing)")
        .option("--json", "print the files written as JSON"),
    ).action(async (dir: string, options: DatabaseOptions & { json?: boolean }) => {
      await withDatabase(options, context, async (db) => {
        const { files } = await pullDefinitions(db, resolve(context.cwd, dir));
        if (options.json === true) {
          context.out(`${JSON.stringify({ target: db.target, files })}\n`);
          return;
        }
        for (const file of files) context.out(`${dir.replace(/\/$/, "")}/${file}\n`);
        context.out(`${plural(files.length, "file")} written from ${db.target}\n`);
      });
    });
  },
};
