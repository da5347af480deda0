import type { Knex } from "knex";
import { epochMs, type Row } from "./rows.ts";
import type { QualifiedNames } from "./sql-names.ts";

/**
 * A value that changes whenever a channel, a behavior version, a product or a client is added, changed, activated or
 * removed: row counts plus the latest `updated_at` of each table (small tables; one cheap query).
 * The definition source's caches follow it, and a push planned against one revision stores only
 * if it is still the same (compare-and-set on the definitions).
 */
export async function readDefinitionRevision(
  knex: Knex | Knex.Transaction,
  t: QualifiedNames,
): Promise<string> {
  const [row] = (
    (await knex.raw(
      `SELECT (SELECT count(*) FROM ${t.channels})::text AS channels,
              (SELECT max(updated_at) FROM ${t.channels}) AS channels_at,
              (SELECT count(*) FROM ${t.behaviors})::text AS behaviors,
              (SELECT max(updated_at) FROM ${t.behaviors}) AS behaviors_at,
              (SELECT count(*) FROM ${t.products})::text AS products,
              (SELECT max(updated_at) FROM ${t.products}) AS products_at,
              (SELECT count(*) FROM ${t.upstreamClients})::text AS clients,
              (SELECT max(updated_at) FROM ${t.upstreamClients}) AS clients_at`,
    )) as { rows: Row[] }
  ).rows;
  const at = (value: unknown) => (value == null ? "-" : String(epochMs(value)));
  return `${row?.channels}.${at(row?.channels_at)}.${row?.behaviors}.${at(row?.behaviors_at)}.${row?.products}.${at(row?.products_at)}.${row?.clients}.${at(row?.clients_at)}`;
}
