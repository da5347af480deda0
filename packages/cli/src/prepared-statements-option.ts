import type { Command } from "commander";

export interface PreparedStatementsOptions {
  /** False with `--no-prepared-statements`. */
  preparedStatements: boolean;
}

/**
 * `--no-prepared-statements`: the group commit is parsed and planned for every batch instead of
 * prepared once per connection, for a pooler that cannot keep prepared statements (see
 * `PostgresStoreOptions.preparedStatements`).
 */
export function addPreparedStatementsOption(command: Command): Command {
  return command.option(
    "--no-prepared-statements",
    "PostgreSQL: do not prepare the group commit statement, for a pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21, or without max_prepared_statements)",
  );
}

/** The store option, left out at its default. */
export function preparedStatementsStoreOption(options: PreparedStatementsOptions): {
  preparedStatements?: false;
} {
  return options.preparedStatements === false ? { preparedStatements: false } : {};
}
