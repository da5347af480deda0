import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The run of each cached answer within its lifetime. Only a succeeded answer is served for the
 * whole lifetime; after one that did not succeed, the next request runs the query again as run
 * n + 1 (a new instance, named by it), and its answer replaces the earlier run's.
 */
export const queryCacheRunsMigration: Migration = {
  name: "0031_query_cache_runs",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.schema}."query_cache" ADD COLUMN run integer NOT NULL DEFAULT 1`,
  ],
};
