import type { InboxEntry } from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { inboxFromRow, type Row } from "./rows.ts";
import { qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/**
 * The notifications kept as received (`keepRawBody`) for one business key of a channel,
 * processed or not, oldest first: what `capflow raw show` opens next to an instance's step logs.
 * The store's port has no such read on purpose: only this offline tool needs it.
 */
export async function keptNotifications(
  db: DatabaseHandle,
  of: { channel: string; businessKey: string },
): Promise<InboxEntry[]> {
  const t = qualifiedNames(db.schema);
  try {
    const result = (await db.knex.raw(
      `SELECT * FROM ${t.inbox}
       WHERE channel = ? AND business_key = ? AND raw IS NOT NULL
       ORDER BY received_at, id`,
      [of.channel, of.businessKey],
    )) as { rows: Row[] };
    return result.rows.map(inboxFromRow);
  } catch (error) {
    throw translateStoreError(error, { target: db.target, context: { channel: of.channel } });
  }
}
