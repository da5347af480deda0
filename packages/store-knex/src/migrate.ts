import type { Knex } from "knex";
import { CapflowMigrationSource } from "./migration-source.ts";
import { quoteIdentifier } from "./sql-names.ts";

export interface MigrationResult {
  /** Names of the migrations this call applied (empty when the schema was up to date). */
  applied: string[];
}

/**
 * Brings `schema` up to the latest migration: creates the schema if needed, then runs knex's
 * migrator with capflow's compiled-in migrations. `serialize` wraps the whole run (an advisory lock
 * for PostgreSQL, so nodes starting together take turns; nothing for single-connection PGlite).
 */
export async function migrateSchema(
  knex: Knex,
  schema: string,
  serialize: <T>(work: () => Promise<T>) => Promise<T>,
): Promise<MigrationResult> {
  return serialize(async () => {
    await knex.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
    const [, applied] = (await knex.migrate.latest({
      migrationSource: new CapflowMigrationSource(schema),
      schemaName: schema,
      tableName: "knex_migrations",
    })) as [number, string[]];
    return { applied };
  });
}
