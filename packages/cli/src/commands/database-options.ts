import { resolve } from "node:path";
import { CapflowError, isCapflowError } from "@capflow/core";
import { type CapflowDatabase, defaultSchema, openStore } from "@capflow/store-knex";
import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import { findLocalServer } from "./local-server.ts";

/** Options of the commands that open capflow's database (push, pull, migrate). */
export interface DatabaseOptions {
  databaseUrl?: string;
  pglite?: string;
  schema?: string;
}

/** Where the database lives when neither a URL nor a folder is given. */
export const defaultPgliteDir = ".capflow/db";

export function addDatabaseOptions(command: Command): Command {
  return command
    .option(
      "--database-url <url>",
      "PostgreSQL connection string (default: the DATABASE_URL environment variable)",
    )
    .option(
      "--pglite <dir>",
      `use embedded PGlite stored in this folder (the default, in ${defaultPgliteDir}, when no URL is set)`,
    )
    .option("--schema <name>", `schema of capflow's tables (default ${defaultSchema})`);
}

/** `--database-url`, else `--pglite`, else DATABASE_URL, else PGlite in `./.capflow/db`. */
export async function openDatabase(
  options: DatabaseOptions,
  context: CliContext,
): Promise<CapflowDatabase> {
  const databaseUrl =
    options.databaseUrl ?? (options.pglite === undefined ? process.env.DATABASE_URL : undefined);
  const pgliteDir = databaseUrl
    ? undefined
    : resolve(context.cwd, options.pglite ?? defaultPgliteDir);
  try {
    return await openStore({
      ...(databaseUrl ? { databaseUrl } : {}),
      ...(pgliteDir === undefined ? {} : { pgliteDir }),
      ...(options.schema === undefined ? {} : { schema: options.schema }),
    });
  } catch (error) {
    if (pgliteDir === undefined || !isCapflowError(error, "STORE_UNAVAILABLE")) throw error;
    const server = await findLocalServer(pgliteDir);
    if (server === undefined) throw error;
    // The folder's owner is a capflow serve: say what can be done while it runs.
    throw new CapflowError(
      "STORE_UNAVAILABLE",
      `capflow serve (pid ${server.pid}) holds the PGlite folder ${pgliteDir}, and PGlite serves one process at a time: stop capflow serve (pid ${server.pid}) and run this again, or open the console at ${server.url}/console (the operator API: ${server.url}/v1/ops/instances); capflow instances start goes through it`,
      { cause: error },
    );
  }
}

/** Opens the database, runs `work`, and always closes it. */
export async function withDatabase<T>(
  options: DatabaseOptions,
  context: CliContext,
  work: (db: CapflowDatabase) => Promise<T>,
): Promise<T> {
  const db = await openDatabase(options, context);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}
