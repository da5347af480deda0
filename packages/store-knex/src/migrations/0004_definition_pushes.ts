import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The history of pushes: who stored which definitions when, and, for a push forced past breaking
 * changes, why and what it broke (the impact analysis as it was refused). Written in the same
 * transaction as the definitions it records, so the history never misses a push nor names one
 * that did not happen. Insert-only; a push that changed nothing is not recorded.
 */
export const definitionPushesMigration: Migration = {
  name: "0004_definition_pushes",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.definitionPushes} (
      id text PRIMARY KEY,
      pushed_at timestamptz NOT NULL,
      who text NOT NULL,
      why text,
      forced boolean NOT NULL,
      changes json NOT NULL,
      impact json NOT NULL
    )`,
    `CREATE INDEX definition_pushes_time ON ${n.definitionPushes} (pushed_at DESC)`,
  ],
};
