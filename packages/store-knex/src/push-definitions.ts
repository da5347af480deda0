import type { BehaviorDefinition, ChannelDefinition } from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { definitionDigest } from "./definition-digest.ts";
import type { Row } from "./rows.ts";
import { qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export type DefinitionChange = "added" | "changed" | "unchanged";

export interface PushResult {
  channels: { code: string; change: DefinitionChange }[];
  /** `version`: the active version after the push (a new one when `changed` or `added`). */
  behaviors: { channel: string; code: string; version: number; change: DefinitionChange }[];
}

/**
 * Stores definitions in the database, in one transaction. Validate them first (`loadDefinitions`
 * or `validateDefinitions` from @capflow/core; `capflow push` does): this function only stores.
 *
 * - Channels are upserted: running instances use the new URLs, limits and keys at once.
 * - A behavior gets a new version, made active, only when its definition differs (by digest of
 *   canonical JSON) from the active version; earlier versions stay, immutable, for the instances
 *   pinned to them. Pushing the same files twice changes nothing.
 *
 * Concurrent pushes take turns (a transaction-scoped advisory lock), so version numbers never
 * collide.
 */
export async function pushDefinitions(
  db: DatabaseHandle,
  definitions: {
    channels?: readonly ChannelDefinition[];
    behaviors?: readonly BehaviorDefinition[];
  },
): Promise<PushResult> {
  const t = qualifiedNames(db.schema);
  const result: PushResult = { channels: [], behaviors: [] };
  try {
    await db.knex.transaction(async (trx) => {
      await trx.raw("SELECT pg_advisory_xact_lock(hashtext('capflow'), hashtext(?))", [
        `push:${db.schema}`,
      ]);
      for (const channel of definitions.channels ?? []) {
        const digest = definitionDigest(channel);
        const [existing] = (
          (await trx.raw(`SELECT digest FROM ${t.channels} WHERE code = ?`, [channel.code])) as {
            rows: Row[];
          }
        ).rows;
        if (existing?.digest === digest) {
          result.channels.push({ code: channel.code, change: "unchanged" });
          continue;
        }
        await trx.raw(
          `INSERT INTO ${t.channels} (code, definition, digest, updated_at)
           VALUES (?, ?::json, ?, clock_timestamp())
           ON CONFLICT (code) DO UPDATE
             SET definition = excluded.definition, digest = excluded.digest, updated_at = excluded.updated_at`,
          [channel.code, JSON.stringify(channel), digest],
        );
        result.channels.push({ code: channel.code, change: existing ? "changed" : "added" });
      }
      for (const behavior of definitions.behaviors ?? []) {
        const digest = definitionDigest(behavior);
        const [current] = (
          (await trx.raw(
            `SELECT max(version) AS latest,
                    max(version) FILTER (WHERE active) AS active_version,
                    max(digest) FILTER (WHERE active) AS active_digest
             FROM ${t.behaviors} WHERE channel = ? AND code = ?`,
            [behavior.channel, behavior.code],
          )) as { rows: Row[] }
        ).rows;
        const latest = current?.latest == null ? 0 : Number(current.latest);
        if (current?.active_digest === digest) {
          result.behaviors.push({
            channel: behavior.channel,
            code: behavior.code,
            version: Number(current.active_version),
            change: "unchanged",
          });
          continue;
        }
        await trx.raw(
          `UPDATE ${t.behaviors} SET active = false, updated_at = clock_timestamp()
           WHERE channel = ? AND code = ? AND active`,
          [behavior.channel, behavior.code],
        );
        const version = latest + 1;
        await trx.raw(
          `INSERT INTO ${t.behaviors} (channel, code, version, definition, digest, active, created_at, updated_at)
           VALUES (?, ?, ?, ?::json, ?, true, clock_timestamp(), clock_timestamp())`,
          [behavior.channel, behavior.code, version, JSON.stringify(behavior), digest],
        );
        result.behaviors.push({
          channel: behavior.channel,
          code: behavior.code,
          version,
          change: latest === 0 ? "added" : "changed",
        });
      }
    });
  } catch (error) {
    throw translateStoreError(error, { target: db.target, context: { schema: db.schema } });
  }
  return result;
}
