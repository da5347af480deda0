import type { RawMessageKind, SealedRawMessage } from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import type { Row } from "./rows.ts";
import { qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

/** What a reseal changed, per table, and the rows it could not read (left as they were). */
export interface ResealReport {
  stepLogs: number;
  inbox: number;
  unreadable: { kind: RawMessageKind; id: string; code: string; message: string }[];
}

export interface ResealOptions {
  /** The key every row should end up sealed with: rows already under it are left alone. */
  currentKeyId: string;
  /**
   * The row's stored value sealed with the current key: opened with the key it names, or, kept
   * in clear by an earlier version, sealed as it is. Throws a `CapflowError` for a row it cannot
   * read (a key not configured, an altered row); that row is reported and left as it was.
   */
  reseal(stored: unknown, kind: RawMessageKind): SealedRawMessage;
  /** Rows read and written per round trip. Default 500. */
  batchSize?: number;
}

/**
 * Seals every kept raw message (step logs, inbox) not yet under the current key with it: after a
 * key rotation, so the old key can be retired, and for messages an earlier version kept in clear.
 * A row is rewritten only if it still holds what was read, so a concurrent reseal is harmless.
 */
export async function resealRawMessages(
  db: DatabaseHandle,
  options: ResealOptions,
): Promise<ResealReport> {
  const t = qualifiedNames(db.schema);
  const report: ResealReport = { stepLogs: 0, inbox: 0, unreadable: [] };
  const batchSize = options.batchSize ?? 500;
  for (const [kind, table] of [
    ["step-log", t.stepLogs],
    ["inbox", t.inbox],
  ] as const) {
    let after: string | undefined;
    for (;;) {
      let rows: Row[];
      try {
        rows = (
          (await db.knex.raw(
            `SELECT id::text AS id, raw FROM ${table}
             WHERE raw IS NOT NULL AND raw->>'keyId' IS DISTINCT FROM ?
               ${after === undefined ? "" : "AND id > ?"}
             ORDER BY id
             LIMIT ?`,
            [options.currentKeyId, ...(after === undefined ? [] : [after]), batchSize],
          )) as { rows: Row[] }
        ).rows;
      } catch (error) {
        throw translateStoreError(error, { target: db.target });
      }
      for (const row of rows) {
        const id = row.id as string;
        let sealed: SealedRawMessage;
        try {
          sealed = options.reseal(row.raw, kind);
        } catch (error) {
          const { code, message } = error as { code?: string; message?: string };
          report.unreadable.push({ kind, id, code: code ?? "INTERNAL", message: message ?? "" });
          continue;
        }
        try {
          const updated = (await db.knex.raw(
            `UPDATE ${table} SET raw = ?::jsonb WHERE id = ? AND raw = ?::jsonb RETURNING id`,
            [JSON.stringify(sealed), id, JSON.stringify(row.raw)],
          )) as { rows: Row[] };
          const count = updated.rows.length;
          if (kind === "step-log") report.stepLogs += count;
          else report.inbox += count;
        } catch (error) {
          throw translateStoreError(error, { target: db.target });
        }
      }
      if (rows.length < batchSize) break;
      after = rows.at(-1)!.id as string;
    }
  }
  return report;
}
