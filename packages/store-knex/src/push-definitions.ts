import { randomUUID } from "node:crypto";
import {
  type BehaviorDefinition,
  CapflowError,
  type ChannelDefinition,
  isCapflowError,
  type ProductDefinition,
  type UpstreamClientDefinition,
} from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { definitionDigest } from "./definition-digest.ts";
import { readDefinitionRevision } from "./definition-revision.ts";
import { epochMs, type Row } from "./rows.ts";
import { qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export type DefinitionChange = "added" | "changed" | "unchanged";

export interface PushResult {
  channels: { code: string; change: DefinitionChange }[];
  /** `version`: the active version after the push (a new one when `changed` or `added`). */
  behaviors: { channel: string; code: string; version: number; change: DefinitionChange }[];
  products: { code: string; change: DefinitionChange }[];
  /** Upstream clients of the intake API, upserted like products. */
  clients: { id: string; change: DefinitionChange }[];
  /** The id of the push in the history, when it changed something or was forced. */
  recorded?: string;
}

export interface PushOptions {
  /**
   * Store only if the stored definitions are still at this revision (`db.definitions.revision()`
   * read before the push was planned and checked); otherwise throw `STORE_CONFLICT` and store
   * nothing, so a check never approves definitions that changed since.
   */
  expectedRevision?: string;
  /** Who pushes, and for a forced push why and what it breaks: kept in the push history. */
  record?: PushRecord;
}

export interface PushRecord {
  who: string;
  why?: string;
  /** Pushed despite breaking changes (`capflow push --force`). */
  forced: boolean;
  /** The breaking changes the push was forced past (JSON), or nothing. */
  impact?: unknown;
  /** Epoch ms; default now. */
  at?: number;
}

/** One entry of the push history, newest first in {@link listDefinitionPushes}. */
export interface DefinitionPush {
  id: string;
  pushedAt: number;
  who: string;
  why: string | null;
  forced: boolean;
  changes: Pick<PushResult, "channels" | "behaviors" | "products"> & {
    clients?: PushResult["clients"];
  };
  impact: unknown;
}

/**
 * Stores definitions in the database, in one transaction. Validate them first (`loadDefinitions`
 * or `validateDefinitions` from @capflow/core; `capflow push` does): this function only stores.
 *
 * - Channels are upserted: running instances use the new URLs, limits and keys at once.
 * - Products are upserted too: the next start of a product routes by the new definition.
 * - Upstream clients are upserted: the next intake request verifies with the new key and rules.
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
    products?: readonly ProductDefinition[];
    clients?: readonly UpstreamClientDefinition[];
  },
  options: PushOptions = {},
): Promise<PushResult> {
  const t = qualifiedNames(db.schema);
  const result: PushResult = { channels: [], behaviors: [], products: [], clients: [] };
  try {
    await db.knex.transaction(async (trx) => {
      await trx.raw("SELECT pg_advisory_xact_lock(hashtext('capflow'), hashtext(?))", [
        `push:${db.schema}`,
      ]);
      if (options.expectedRevision !== undefined) {
        const revision = await readDefinitionRevision(trx, t);
        if (revision !== options.expectedRevision) {
          throw new CapflowError(
            "STORE_CONFLICT",
            "the stored definitions changed while this push was being checked (another push?); nothing was stored: run the push again",
            { context: { schema: db.schema } },
          );
        }
      }
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
      for (const product of definitions.products ?? []) {
        const digest = definitionDigest(product);
        const [existing] = (
          (await trx.raw(`SELECT digest FROM ${t.products} WHERE code = ?`, [product.code])) as {
            rows: Row[];
          }
        ).rows;
        if (existing?.digest === digest) {
          result.products.push({ code: product.code, change: "unchanged" });
          continue;
        }
        await trx.raw(
          `INSERT INTO ${t.products} (code, definition, digest, updated_at)
           VALUES (?, ?::json, ?, clock_timestamp())
           ON CONFLICT (code) DO UPDATE
             SET definition = excluded.definition, digest = excluded.digest, updated_at = excluded.updated_at`,
          [product.code, JSON.stringify(product), digest],
        );
        result.products.push({ code: product.code, change: existing ? "changed" : "added" });
      }
      for (const client of definitions.clients ?? []) {
        const digest = definitionDigest(client);
        const [existing] = (
          (await trx.raw(`SELECT digest FROM ${t.upstreamClients} WHERE id = ?`, [client.id])) as {
            rows: Row[];
          }
        ).rows;
        if (existing?.digest === digest) {
          result.clients.push({ id: client.id, change: "unchanged" });
          continue;
        }
        await trx.raw(
          `INSERT INTO ${t.upstreamClients} (id, definition, digest, updated_at)
           VALUES (?, ?::json, ?, clock_timestamp())
           ON CONFLICT (id) DO UPDATE
             SET definition = excluded.definition, digest = excluded.digest, updated_at = excluded.updated_at`,
          [client.id, JSON.stringify(client), digest],
        );
        result.clients.push({ id: client.id, change: existing ? "changed" : "added" });
      }
      const changed =
        result.clients.some((c) => c.change !== "unchanged") ||
        result.channels.some((c) => c.change !== "unchanged") ||
        result.behaviors.some((b) => b.change !== "unchanged") ||
        result.products.some((p) => p.change !== "unchanged");
      const record = options.record;
      if (record !== undefined && (changed || record.forced)) {
        result.recorded = randomUUID();
        await trx.raw(
          `INSERT INTO ${t.definitionPushes} (id, pushed_at, who, why, forced, changes, impact)
           VALUES (?, ?, ?, ?, ?, ?::json, ?::json)`,
          [
            result.recorded,
            new Date(record.at ?? Date.now()),
            record.who,
            record.why ?? null,
            record.forced,
            JSON.stringify({
              channels: result.channels,
              behaviors: result.behaviors,
              products: result.products,
              clients: result.clients,
            }),
            JSON.stringify(record.impact ?? []),
          ],
        );
      }
    });
  } catch (error) {
    if (isCapflowError(error)) throw error;
    throw translateStoreError(error, { target: db.target, context: { schema: db.schema } });
  }
  return result;
}

/** The push history, newest first. */
export async function listDefinitionPushes(
  db: DatabaseHandle,
  options: { limit?: number } = {},
): Promise<DefinitionPush[]> {
  const t = qualifiedNames(db.schema);
  try {
    const { rows } = (await db.knex.raw(
      `SELECT * FROM ${t.definitionPushes} ORDER BY pushed_at DESC, id DESC LIMIT ?`,
      [options.limit ?? 20],
    )) as { rows: Row[] };
    return rows.map((row) => ({
      id: row.id as string,
      pushedAt: epochMs(row.pushed_at),
      who: row.who as string,
      why: (row.why ?? null) as string | null,
      forced: row.forced === true,
      changes: (typeof row.changes === "string"
        ? JSON.parse(row.changes)
        : row.changes) as DefinitionPush["changes"],
      impact: typeof row.impact === "string" ? JSON.parse(row.impact) : row.impact,
    }));
  } catch (error) {
    throw translateStoreError(error, { target: db.target, context: { schema: db.schema } });
  }
}
