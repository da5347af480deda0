import type { QualifiedNames } from "../sql-names.ts";

/**
 * One numbered schema change. Migrations are append-only: once released, a migration's statements
 * never change (databases in the field already ran them); a fix is a new migration.
 *
 * Statements are plain SQL, one per entry (PGlite runs one statement per query), written against
 * schema-qualified names so the same migration serves any schema.
 */
export interface Migration {
  /** `NNNN_words`: the number orders migrations; the name is recorded in `knex_migrations`. */
  name: string;
  statements(names: QualifiedNames): string[];
}
