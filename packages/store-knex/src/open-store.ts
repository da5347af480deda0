import { mkdir } from "node:fs/promises";
import type { WakeUpSource } from "@capflow/core";
import type { PGlite } from "@electric-sql/pglite";
import knexModule, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import { withAdvisoryLock } from "./advisory-lock.ts";
import {
  KnexDefinitionSource,
  type KnexDefinitionSourceOptions,
} from "./knex-definition-source.ts";
import { KnexInstanceStore } from "./knex-instance-store.ts";
import { KnexOperationsView } from "./knex-operations-view.ts";
import { KnexOperatorTokenStore } from "./knex-operator-token-store.ts";
import { type MigrationResult, migrateSchema } from "./migrate.ts";
import { claimPgliteFolder } from "./pglite-folder-owner.ts";
import { PostgresWakeUps } from "./postgres-wake-ups.ts";
import { defaultSchema } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * One database handle: a knex instance with capflow's instance store and definition source on it.
 * `close()` releases the pool (or shuts PGlite down); closing `instances` does the same.
 */
export interface CapflowDatabase {
  readonly knex: Knex;
  /** The schema holding capflow's tables. */
  readonly schema: string;
  /** `PostgreSQL at host:port/db` or `PGlite in memory|at DIR`: for messages, never a password. */
  readonly target: string;
  readonly instances: KnexInstanceStore;
  readonly definitions: KnexDefinitionSource;
  /**
   * Due notifications for workers (`WorkerOptions.wakeUps`): PostgreSQL `LISTEN`/`NOTIFY` on a
   * connection of their own. Absent on PGlite, where workers poll.
   */
  readonly wakeUps?: WakeUpSource;
  /** Operators' API tokens (digests only), for `@capflow/server`. */
  readonly operatorTokens: KnexOperatorTokenStore;
  /** Counts and queues for operators (the console's overview), for `@capflow/server`. */
  readonly operations: KnexOperationsView;
  /** Applies pending migrations; safe when several nodes call it at once. */
  migrate(): Promise<MigrationResult>;
  close(): Promise<void>;
}

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database`. */
  connectionString: string;
  /** Schema for capflow's tables (created by `migrate()`). Default `capflow`. */
  schema?: string;
  /** knex pool size. Size it to the worker's concurrency plus a few; see docs/operations.md. */
  pool?: { min?: number; max?: number };
  /** Server-side limit on any one statement. Default 30 000 ms. 0 disables it. */
  statementTimeoutMs?: number;
  /** How long to wait for PostgreSQL to accept a new connection. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** How long to wait for a free pooled connection. Default 10 000 ms. */
  acquireTimeoutMs?: number;
  /**
   * Shown in `pg_stat_activity`. Default `capflow`. A group commit shows `<name> commit <id>`
   * while it runs, with the name's first 39 characters (how a commit whose connection broke is
   * found on the server): match the name as a prefix.
   */
  applicationName?: string;
  /**
   * The group commit as a prepared statement, parsed and planned once per connection. Turn off
   * behind a pooler that cannot keep prepared statements across transactions (PgBouncer in
   * transaction mode before 1.21, or without `max_prepared_statements`). Default true.
   */
  preparedStatements?: boolean;
  definitions?: KnexDefinitionSourceOptions;
  /**
   * Where knex reports warnings (e.g. `Connection Error: …` when a pooled connection breaks; the
   * operation in flight rejects with a translated error either way). Default: the console, first
   * line only (no driver stack trace), and nothing for a connection that could not be acquired:
   * the operation that wanted it fails with a `CapflowError` that says what to check.
   */
  log?: Knex.Config["log"];
}

/** Opens capflow's tables on PostgreSQL (production, many nodes). Call `migrate()` once at start. */
export function openPostgresStore(options: PostgresStoreOptions): CapflowDatabase {
  const schema = options.schema ?? defaultSchema;
  // Accepted by knex's pg dialect and by pg.Client alike (the migration lock's own connection).
  const connection = {
    connectionString: options.connectionString,
    application_name: options.applicationName ?? "capflow",
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // A pooled connection whose peer vanished (a failover, a NAT dropping idle flows) is found
    // by TCP keepalive instead of by the next commit hanging on it.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  const knex = knexModule({
    client: "pg",
    connection,
    pool: { min: options.pool?.min ?? 0, max: options.pool?.max ?? 10 },
    acquireConnectionTimeout: options.acquireTimeoutMs ?? 10_000,
    searchPath: [schema],
    // Error messages then carry the SQL with placeholders, not the values bound to them.
    compileSqlOnError: false,
    log: options.log ?? quietKnexLog,
  });
  const target = describePostgres(options.connectionString);
  return assemble(
    knex,
    schema,
    target,
    options.definitions,
    (work) => withAdvisoryLock(connection, `migrate:${schema}`, work),
    true,
    undefined,
    new PostgresWakeUps(connection, schema),
    options.preparedStatements ?? true,
  );
}

export interface PgliteStoreOptions {
  /** Folder for a persistent database, created if missing. Omitted: in memory, gone on close. */
  dataDir?: string;
  /**
   * An instance you created (with extensions, or `loadDataDir` to start from a dump, which skips
   * initdb and starts several times faster). The store owns it from then on: `close()` closes it.
   * `dataDir` is ignored.
   */
  pglite?: PGlite;
  /** Default `capflow`. */
  schema?: string;
  definitions?: KnexDefinitionSourceOptions;
}

/**
 * Opens capflow's tables on embedded PGlite (PostgreSQL compiled to WebAssembly, in this process):
 * nothing to install, one process, one connection. The same SQL and migrations as PostgreSQL.
 */
export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<CapflowDatabase> {
  const schema = options.schema ?? defaultSchema;
  const { pglite } = options;
  const dataDir = pglite === undefined ? options.dataDir : undefined;
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  // One process per folder (pglite-folder-owner.ts): refused here, before PGlite touches a file.
  const owner = dataDir === undefined ? undefined : await claimPgliteFolder(dataDir);
  // knex-pglite 0.14 (checked against knex 3.3, PGlite 0.5, Node 20) is knex's own postgres
  // dialect with the driver swapped for PGlite, so the SQL, bindings and result handling are
  // knex's; it pins the pool to the one connection PGlite has, and concurrent callers queue.
  // A given instance goes in through a function: knex deep-clones connection objects.
  const knex = knexModule({
    client: ClientPgLite,
    dialect: "postgres",
    connection:
      pglite !== undefined
        ? ((() => ({ pglite })) as unknown as Knex.StaticConnectionConfig)
        : dataDir === undefined
          ? {}
          : { filename: dataDir },
    searchPath: [schema],
    compileSqlOnError: false,
  });
  const target =
    pglite !== undefined
      ? "PGlite"
      : dataDir === undefined
        ? "PGlite in memory"
        : `PGlite at ${dataDir}`;
  // One connection in one process: migrations cannot race, no lock needed.
  return assemble(knex, schema, target, options.definitions, (work) => work(), false, owner);
}

function assemble(
  knex: Knex,
  schema: string,
  target: string,
  definitionOptions: KnexDefinitionSourceOptions | undefined,
  serializeMigrations: <T>(work: () => Promise<T>) => Promise<T>,
  /** A PostgreSQL server, reached over a network (PGlite runs in this process). */
  overNetwork: boolean,
  /** What to give back once the database is closed (a PGlite folder's ownership). */
  owner?: { release(): Promise<void> },
  wakeUps?: WakeUpSource,
  /** The group commit as a prepared statement (PostgreSQL). */
  preparedStatements = false,
): CapflowDatabase {
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= knex.destroy().finally(() => owner?.release());
    return closed;
  };
  return {
    knex,
    schema,
    target,
    instances: new KnexInstanceStore(knex, {
      schema,
      target,
      onClose: close,
      endsOrphanedCommits: overNetwork,
      preparedStatements,
    }),
    definitions: new KnexDefinitionSource(knex, { ...definitionOptions, schema, target }),
    ...(wakeUps ? { wakeUps } : {}),
    operatorTokens: new KnexOperatorTokenStore(knex, { schema, target }),
    operations: new KnexOperationsView(knex, { schema, target }),
    async migrate() {
      try {
        return await migrateSchema(knex, schema, serializeMigrations);
      } catch (error) {
        throw translateStoreError(error, { target, context: { schema } });
      }
    },
    close,
  };
}

const quietKnexLog: Knex.Logger = {
  warn(message: string) {
    if (message.startsWith("Acquire connection error")) return;
    console.warn(`knex: ${message.split("\n")[0]}`);
  },
};

/** `PostgreSQL at host:port/database`, from a connection string, leaving out user and password. */
export function describePostgres(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const database = url.pathname.replace(/^\//, "");
    return `PostgreSQL at ${url.hostname || "localhost"}:${url.port || "5432"}${database ? `/${database}` : ""}`;
  } catch {
    return "PostgreSQL (connection string not a URL)";
  }
}

export interface OpenStoreOptions {
  /** A PostgreSQL connection string; when set, PostgreSQL is used. */
  databaseUrl?: string;
  /** Otherwise PGlite, persisted in this folder (in memory when omitted too). */
  pgliteDir?: string;
  schema?: string;
}

/**
 * PostgreSQL when a URL is given, PGlite otherwise: what a command line or a small service does
 * with `DATABASE_URL` or a data folder.
 */
export async function openStore(options: OpenStoreOptions): Promise<CapflowDatabase> {
  const schema = options.schema === undefined ? {} : { schema: options.schema };
  if (options.databaseUrl !== undefined) {
    return openPostgresStore({ connectionString: options.databaseUrl, ...schema });
  }
  return openPgliteStore({
    ...schema,
    ...(options.pgliteDir === undefined ? {} : { dataDir: options.pgliteDir }),
  });
}
