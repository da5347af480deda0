import type { Knex } from "knex";

/** What the definition and processor functions need from a `CapflowDatabase`. */
export interface DatabaseHandle {
  readonly knex: Knex;
  readonly schema: string;
  /** How messages name the database. */
  readonly target: string;
}
