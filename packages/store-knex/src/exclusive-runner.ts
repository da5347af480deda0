import { type ExclusiveRun, type ExclusiveRunner, inProcessExclusiveRunner } from "@capflow/core";
import type { Knex } from "knex";
import type { DatabaseHandle } from "./database-handle.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * Runs monitor rounds on one node at a time. On PostgreSQL: a transaction-level advisory lock
 * (`pg_try_advisory_xact_lock`), taken without waiting and held by a transaction of its own
 * until the work ends; a node that dies releases it with its connection. Keys are per schema.
 * On PGlite (one process) an in-process lock does the same.
 */
export function knexExclusiveRunner(db: DatabaseHandle): ExclusiveRunner {
  const client = (db.knex.client as { config?: { client?: unknown } }).config?.client;
  if (client !== "pg") return inProcessExclusiveRunner();
  return {
    async runExclusive<T>(key: string, work: () => Promise<T>): Promise<ExclusiveRun<T>> {
      const lockKey = `${db.schema}:${key}`;
      let trx: Knex.Transaction;
      try {
        trx = await db.knex.transaction();
      } catch (error) {
        throw translateStoreError(error, { target: db.target });
      }
      try {
        const result = await trx
          .raw("SELECT pg_try_advisory_xact_lock(hashtext('capflow'), hashtext(?)) AS locked", [
            lockKey,
          ])
          .catch((error: unknown) => {
            throw translateStoreError(error, { target: db.target });
          });
        const locked = (result as { rows: { locked: boolean }[] }).rows[0]?.locked === true;
        if (!locked) return { ran: false };
        return { ran: true, value: await work() };
      } finally {
        await trx.rollback().catch(() => {});
      }
    },
  };
}
