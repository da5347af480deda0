import type { Knex } from "knex";
import { migrations } from "./migrations/index.ts";
import type { Migration } from "./migrations/migration.ts";
import { qualifiedNames } from "./sql-names.ts";

/**
 * Gives knex's migrator the migrations compiled into this package (not files read from a folder,
 * which would break once the package is bundled or installed elsewhere), bound to one schema.
 */
export class CapflowMigrationSource implements Knex.MigrationSource<Migration> {
  readonly #schema: string;

  constructor(schema: string) {
    this.#schema = schema;
  }

  async getMigrations(): Promise<Migration[]> {
    return [...migrations];
  }

  getMigrationName(migration: Migration): string {
    return migration.name;
  }

  async getMigration(migration: Migration): Promise<Knex.Migration> {
    const names = qualifiedNames(this.#schema);
    return {
      async up(knex: Knex): Promise<void> {
        // knex runs each migration in a transaction; a migration (an index on a big table) may
        // take longer than the pool's statement_timeout, which is meant for the hot path.
        await knex.raw("SET LOCAL statement_timeout = 0");
        for (const statement of migration.statements(names)) await knex.raw(statement);
      },
      async down(): Promise<void> {
        throw new Error(
          `migration ${migration.name} cannot be undone: capflow migrations are append-only; restore a backup instead`,
        );
      },
    };
  }
}
