import { resolve } from "node:path";
import { CapflowError, isCapflowError } from "@capflow/core";
import { type CapflowDatabase, defaultSchema, openStore } from "@capflow/store-knex";
import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import { findLocalServer, type LocalServer } from "./local-server.ts";
import { type ServerErrorBody, serverAnswerError } from "./server-answer-error.ts";

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
      `capflow serve (pid ${server.pid}) holds the PGlite folder ${pgliteDir}, and PGlite serves one process at a time: stop capflow serve (pid ${server.pid}) and run this again, or open the console at ${server.url}/console (the operator API: ${server.url}/v1/ops/instances); capflow instances list, show, watch and start go through it`,
      { cause: error },
    );
  }
}

/**
 * The `capflow serve` that holds the PGlite folder these options name, if one runs: read
 * commands go through its operator API then, since one process opens a PGlite folder at a time.
 */
export async function localServerHolding(
  options: DatabaseOptions,
  context: CliContext,
): Promise<LocalServer | undefined> {
  const databaseUrl =
    options.databaseUrl ?? (options.pglite === undefined ? process.env.DATABASE_URL : undefined);
  if (databaseUrl) return undefined;
  return findLocalServer(resolve(context.cwd, options.pglite ?? defaultPgliteDir));
}

/** A GET of the operator API of a local `capflow serve`, with the token it made for this machine. */
export async function getFromLocalServer<T>(server: LocalServer, path: string): Promise<T> {
  let answer: Response;
  try {
    answer = await fetch(`${server.url}/v1/ops${path}`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
  } catch {
    throw new CapflowError(
      "STORE_UNAVAILABLE",
      `capflow serve (pid ${server.pid}) holds the database and does not answer at ${server.url}; is it still starting?`,
    );
  }
  const body = (await answer.json().catch(() => ({}))) as T & ServerErrorBody;
  if (!answer.ok) throw serverAnswerError(answer.status, body);
  return body;
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
