import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * `instances.upstream_client`: the upstream client that started an instance through the intake
 * API; its notifications name that client as their target (its `notify.url`).
 */
export const instanceUpstreamClientMigration: Migration = {
  name: "0009_instance_upstream_client",
  statements: (n: QualifiedNames) => [`ALTER TABLE ${n.instances} ADD COLUMN upstream_client text`],
};
