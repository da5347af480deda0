import pg from "pg";

/**
 * Runs `work` while holding a PostgreSQL session advisory lock, on a connection of its own (outside
 * the knex pool, so a pool of one connection cannot deadlock on it). If this process dies, the
 * connection closes and PostgreSQL releases the lock.
 *
 * Used around migrations: knex's own lock table cannot protect the very first run, when several
 * nodes race to create that lock table (and the schema) themselves.
 */
export async function withAdvisoryLock<T>(
  connection: pg.ClientConfig,
  key: string,
  work: () => Promise<T>,
): Promise<T> {
  const client = new pg.Client(connection);
  // A broken lock connection must not crash the process; the query in flight rejects instead.
  client.on("error", () => {});
  await client.connect();
  try {
    // No statement timeout here: waiting for another node's migrations may take a while.
    await client.query("SET statement_timeout = 0");
    await client.query("SELECT pg_advisory_lock(hashtext('capflow'), hashtext($1))", [key]);
    try {
      return await work();
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext('capflow'), hashtext($1))", [key]);
    }
  } finally {
    await client.end();
  }
}
