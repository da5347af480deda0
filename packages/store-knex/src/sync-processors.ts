import type { ProcessorMetadata } from "@capflow/core";
import { canonicalJson } from "@capflow/core/internal";
import type { DatabaseHandle } from "./database-handle.ts";
import type { Row } from "./rows.ts";
import { qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export interface SyncProcessorsResult {
  added: string[];
  changed: string[];
  unchanged: string[];
}

/**
 * Upserts processor metadata (what `ProcessorRegistry.list()` returns) so authoring tools can list
 * the processors a deployment has. Processors missing from `metadata` are kept: several services
 * may register different processors against one database.
 */
export async function syncProcessors(
  db: DatabaseHandle,
  metadata: readonly ProcessorMetadata[],
  now: number = Date.now(),
): Promise<SyncProcessorsResult> {
  const t = qualifiedNames(db.schema);
  const result: SyncProcessorsResult = { added: [], changed: [], unchanged: [] };
  if (metadata.length === 0) return result;
  try {
    await db.knex.transaction(async (trx) => {
      const existing = new Map(
        (
          (await trx.raw(
            `SELECT name, label, description, params, returns, source FROM ${t.processors}
           WHERE name = ANY (?::text[]) FOR UPDATE`,
            [metadata.map((m) => m.name)],
          )) as { rows: Row[] }
        ).rows.map((row) => [row.name as string, row]),
      );
      for (const m of metadata) {
        const row = existing.get(m.name);
        const same =
          row !== undefined &&
          row.label === m.label &&
          (row.description ?? undefined) === m.description &&
          // jsonb reorders keys: compare canonical forms.
          canonicalJson(row.params) === canonicalJson(m.params) &&
          canonicalJson(row.returns) === canonicalJson(m.returns) &&
          canonicalJson(row.source) === canonicalJson(m.source);
        if (same) {
          result.unchanged.push(m.name);
          continue;
        }
        await trx.raw(
          `INSERT INTO ${t.processors} (name, label, description, params, returns, source, synced_at)
           VALUES (?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb, ?)
           ON CONFLICT (name) DO UPDATE SET label = excluded.label, description = excluded.description,
             params = excluded.params, returns = excluded.returns, source = excluded.source,
             synced_at = excluded.synced_at`,
          [
            m.name,
            m.label,
            m.description ?? null,
            JSON.stringify(m.params),
            JSON.stringify(m.returns),
            JSON.stringify(m.source),
            new Date(now),
          ],
        );
        (row ? result.changed : result.added).push(m.name);
      }
    });
  } catch (error) {
    throw translateStoreError(error, { target: db.target });
  }
  return result;
}

/** Every stored processor's metadata, by name. */
export async function listStoredProcessors(db: DatabaseHandle): Promise<ProcessorMetadata[]> {
  const t = qualifiedNames(db.schema);
  try {
    const { rows } = (await db.knex.raw(
      `SELECT name, label, description, params, returns, source FROM ${t.processors} ORDER BY name`,
    )) as { rows: Row[] };
    return rows.map((row) => {
      const metadata: ProcessorMetadata = {
        name: row.name as string,
        label: row.label as string,
        params: row.params as ProcessorMetadata["params"],
        returns: row.returns as ProcessorMetadata["returns"],
        source: row.source as ProcessorMetadata["source"],
      };
      if (row.description != null) metadata.description = row.description as string;
      return metadata;
    });
  } catch (error) {
    throw translateStoreError(error, { target: db.target });
  }
}
