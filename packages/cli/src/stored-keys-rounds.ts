import { type CapflowDatabase, KnexDefinitionSource } from "@capflow/store-knex";
import type { StoredKeysRounds } from "./stored-keys-watch.ts";

/**
 * The rounds of a {@link StoredKeysWatch} on a PostgreSQL server: each reads in a transaction of
 * its own whose statements wait for a lock at most `lockTimeoutMs`. A round blocked on a lock (a
 * migration, a `LOCK TABLE`) would otherwise hold its pooled connection until the lock is
 * released, and closing the pool at shutdown waits for every connection in use: SIGTERM would
 * wait for the lock. Such a round fails instead (reported as a round that could not run, the last
 * failures kept) and the next one reads again. On PGlite (one connection, in this process, that
 * nothing else locks for long) the rounds read from `db.definitions`, as the engine does.
 */
export function lockBoundedRounds(
  db: CapflowDatabase,
  /** The folder relative `file:` key references resolve against, as for the engine. */
  baseDir: string,
  /** As long as `StoredKeysWatch.stop()` waits for a round by default. */
  lockTimeoutMs = 1_000,
): StoredKeysRounds {
  // Due notifications over LISTEN are PostgreSQL's alone.
  if (db.wakeUps === undefined) return (read) => read(db.definitions);
  const timeout = `${Math.max(1, Math.ceil(lockTimeoutMs))}ms`;
  return (read) =>
    db.knex.transaction(async (trx) => {
      await trx.raw("SELECT set_config('lock_timeout', ?, true)", [timeout]);
      return read(
        new KnexDefinitionSource(trx, {
          schema: db.schema,
          target: db.target,
          baseDir,
          refreshMs: 0,
        }),
      );
    });
}
