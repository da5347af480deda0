import { createHash, randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { type CapflowDatabase, openPgliteStore, openPostgresStore } from "../../src/index.ts";
import { migrations } from "../../src/migrations/index.ts";
import { defaultSchema, qualifiedNames } from "../../src/sql-names.ts";

/** Where PGlite is installed: the pnpm store path names its version. */
const pgliteVersion = createRequire(import.meta.url).resolve("@electric-sql/pglite");

/** Set by CI; integration tests skip (saying so) without it. */
export const databaseUrl = process.env.DATABASE_URL;

export const skipMessage =
  "PostgreSQL integration tests skipped: set DATABASE_URL (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test) to run them";

if (!databaseUrl) console.warn(skipMessage);

/** A schema name no other test file uses, so files run in parallel against one database. */
export function uniqueSchema(prefix = "capflow_test"): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** A migrated store in a fresh schema of the test database; `drop()` removes the schema. */
export async function openTestPostgres(
  options: { schema?: string; pool?: { min?: number; max?: number } } = {},
): Promise<CapflowDatabase & { drop(): Promise<void> }> {
  if (!databaseUrl) throw new Error(skipMessage);
  const schema = options.schema ?? uniqueSchema();
  const db = openPostgresStore({
    connectionString: databaseUrl,
    schema,
    ...(options.pool ? { pool: options.pool } : {}),
  });
  await db.migrate();
  return Object.assign(db, {
    async drop() {
      await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    },
  });
}

/**
 * One in-memory PGlite per test file, emptied between tests with {@link truncateRuntimeTables}.
 * It starts from a dump of a migrated database (a template, as graphile-worker clones a template
 * database): a fresh PGlite runs initdb, seconds on a small machine; loading a dump is several
 * times faster. The dump is cached in the temp folder, keyed by the PGlite version and the
 * migrations' SQL.
 */
export async function openTestPglite(): Promise<CapflowDatabase> {
  const db = await openPgliteStore({ pglite: new PGlite({ loadDataDir: await pgliteTemplate() }) });
  await db.migrate();
  return db;
}

async function pgliteTemplate(): Promise<Blob> {
  const key = createHash("sha256")
    .update(JSON.stringify(migrations.map((m) => m.statements(qualifiedNames(defaultSchema)))))
    .update(pgliteVersion)
    .digest("hex")
    .slice(0, 16);
  const path = join(tmpdir(), `capflow-pglite-template-${key}.tar`);
  const cached = await readFile(path).catch(() => undefined);
  if (cached) return new Blob([cached]);
  const pglite = new PGlite();
  const db = await openPgliteStore({ pglite });
  await db.migrate();
  const dump = await pglite.dumpDataDir("none");
  await db.close();
  const bytes = new Uint8Array(await dump.arrayBuffer());
  // Written aside and renamed: test files starting together never read half a file.
  const partial = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(partial, bytes);
  await rename(partial, path);
  return new Blob([bytes]);
}

/**
 * Empties the instance, step log and inbox tables (what the store contract touches). DELETE, not
 * TRUNCATE: on the few rows a test leaves, it is about 4x faster on PGlite (no new files).
 */
export async function truncateRuntimeTables(db: CapflowDatabase): Promise<void> {
  const t = qualifiedNames(db.schema);
  for (const table of [
    t.instances,
    t.stepLogs,
    t.inbox,
    t.quotaUsage,
    t.quotaHolds,
    t.routingPositions,
    t.outbox,
  ])
    await db.knex.raw(`DELETE FROM ${table}`);
}

/** Empties every capflow table. */
export async function truncateAllTables(db: CapflowDatabase): Promise<void> {
  const t = qualifiedNames(db.schema);
  await db.knex.raw(
    `TRUNCATE ${t.instances}, ${t.stepLogs}, ${t.inbox}, ${t.channels}, ${t.behaviors}, ${t.processors}, ${t.products}, ${t.quotaUsage}, ${t.quotaHolds}, ${t.routingPositions}, ${t.upstreamClients}, ${t.intakeNonces}, ${t.intakeRequests}, ${t.outbox}`,
  );
}
