import type { CapflowCommand } from "../command.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

/** `capflow migrate`: brings capflow's tables up to date (safe with several nodes at once). */
export const migrateCommand: CapflowCommand = {
  name: "migrate",
  register(program, context) {
    addDatabaseOptions(
      program
        .command("migrate")
        .description("create or update capflow's tables; safe to run from several nodes at once")
        .option("--json", "print what was applied as JSON"),
    ).action(async (options: DatabaseOptions & { json?: boolean }) => {
      await withDatabase(options, context, async (db) => {
        const { applied } = await db.migrate();
        if (options.json === true) {
          context.out(`${JSON.stringify({ target: db.target, applied })}\n`);
          return;
        }
        context.out(
          applied.length === 0
            ? `${db.target}: already up to date\n`
            : `${db.target}: applied ${applied.join(", ")}\n`,
        );
      });
    });
  },
};
