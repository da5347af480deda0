/**
 * @capflow/store-knex — capflow's persistence on PostgreSQL (production, many nodes) or embedded
 * PGlite (one process, nothing to install), through knex. The instance store is also the queue:
 * workers claim due instances with `FOR UPDATE SKIP LOCKED` leases.
 *
 * ```ts
 * import { loadDefinitionsOrThrow } from "@capflow/core";
 * import { openPgliteStore, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
 *
 * const db = openPostgresStore({ connectionString: process.env.DATABASE_URL! });
 * await db.migrate(); // safe when several nodes start at once
 * const due = await db.instances.claimDue({ owner: "worker-1", now: Date.now(), leaseMs: 30_000, limit: 10 });
 * const loan = await db.definitions.getBehavior("lanbank", "loan");
 * await db.close();
 *
 * // One process, nothing to install: the same tables in embedded PGlite.
 * const local = await openPgliteStore({ dataDir: ".capflow/db" });
 * await local.migrate();
 * await pushDefinitions(local, await loadDefinitionsOrThrow("./definitions"));
 * ```
 */
export {
  type CapflowDatabase,
  describePostgres,
  openPgliteStore,
  openPostgresStore,
  type OpenStoreOptions,
  openStore,
  type PgliteStoreOptions,
  type PostgresStoreOptions,
} from "./open-store.ts";
export { KnexInstanceStore, type KnexInstanceStoreOptions } from "./knex-instance-store.ts";
export { KnexIntakeStore, type KnexIntakeStoreOptions } from "./knex-intake-store.ts";
export {
  KnexOperatorTokenStore,
  type KnexOperatorTokenStoreOptions,
} from "./knex-operator-token-store.ts";
export { KnexOperationsView, type KnexOperationsViewOptions } from "./knex-operations-view.ts";
export {
  KnexDefinitionSource,
  type KnexDefinitionSourceOptions,
} from "./knex-definition-source.ts";
export type { MigrationResult } from "./migrate.ts";
export type { DatabaseHandle } from "./database-handle.ts";
export {
  type DefinitionChange,
  type DefinitionPush,
  listDefinitionPushes,
  type PushOptions,
  type PushRecord,
  type PushResult,
  pushDefinitions,
} from "./push-definitions.ts";
export { type PullResult, pullDefinitions } from "./pull-definitions.ts";
export {
  listStoredProcessors,
  type SyncProcessorsResult,
  syncProcessors,
} from "./sync-processors.ts";
export { defaultSchema } from "./sql-names.ts";
export { keptNotifications } from "./kept-notifications.ts";
export {
  type ResealOptions,
  type ResealReport,
  resealRawMessages,
} from "./reseal-raw-messages.ts";
export { KnexStuckStore } from "./knex-stuck-store.ts";
export { knexExclusiveRunner } from "./exclusive-runner.ts";
export { KnexAlertCountStore } from "./knex-alert-count-store.ts";
export { KnexAlertStore } from "./knex-alert-store.ts";
export { KnexStartQueueStore } from "./knex-start-queue-store.ts";
export { KnexQueryCacheStore } from "./knex-query-cache-store.ts";
export {
  defaultPruneAges,
  type PruneOptions,
  type PruneReport,
  pruneOperationalData,
} from "./prune-operational-data.ts";
export { checkPruneAge, minimumPruneAges, type PruneAgeOption } from "./minimum-prune-ages.ts";
