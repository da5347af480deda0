import { CapflowError } from "@capflow/core";
import type { DatabaseHandle } from "./database-handle.ts";
import { retentionMigration } from "./migrations/0045_retention.ts";
import { checkPruneAge } from "./minimum-prune-ages.ts";
import { epochMs, type Row, timeParam } from "./rows.ts";
import { quoteIdentifier } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

const day = 86_400_000;

/**
 * Ages are checked against their floors (`minimumPruneAges`): a shorter one is refused with
 * `CONFIG_INVALID` before anything is read.
 */
export interface PruneOptions {
  /** Delivered or failed notifications, this long after delivery or failure. Default 90 days, at least 7. */
  notificationsOlderThanMs?: number;
  /**
   * Processed inbox entries, this long after processing. Default 90 days, at least 7. A funder's
   * repeat of a notification whose entry is gone is stored as new and handled as a late callback.
   */
  inboxOlderThanMs?: number;
  /**
   * Closed queued starts (started, expired, given up), this long after closing. Default 30 days,
   * at least 1.
   */
  queuedStartsOlderThanMs?: number;
  /** Cached query answers, this long after they expired. Default 0: as soon as they expire. */
  queryCacheOlderThanMs?: number;
  /** Only count what would be deleted. */
  dryRun?: boolean;
  /** Rows per DELETE statement (each its own short transaction). Default 5 000. */
  batchSize?: number;
  /**
   * The present the ages count back from, epoch ms. Default: the database's clock (`now()`), read
   * once as the prune starts, so a host whose clock runs ahead deletes nothing early. A present
   * earlier than the database's prunes less; one more than a minute ahead of it is refused with
   * `CONFIG_INVALID` (it would delete rows younger than their floors).
   */
  now?: number;
}

/** Rows deleted per kind (counted, with `dryRun`). */
export interface PruneReport {
  dryRun: boolean;
  notifications: number;
  inboxEntries: number;
  queuedStarts: number;
  queryCacheEntries: number;
}

/** The defaults of {@link PruneOptions}, in milliseconds. */
export const defaultPruneAges = {
  notificationsOlderThanMs: 90 * day,
  inboxOlderThanMs: 90 * day,
  queuedStartsOlderThanMs: 30 * day,
  queryCacheOlderThanMs: 0,
} as const;

/**
 * One way to find prunable rows: `where` names the cutoff `:cutoff`, and
 * `order` is the column of the index that serves it, so each batch reads the oldest rows first
 * and never the rows kept (migration 0045).
 */
interface PrunableRows {
  kind: keyof Omit<PruneReport, "dryRun">;
  table: string;
  key: string;
  where: string;
  order: string;
}

/**
 * Deletes old operational rows: delivered and failed notifications, processed inbox entries,
 * closed queued starts and expired cached queries. Never a pending notification, an unprocessed
 * or kept-as-received inbox entry, or a start still queued; never instances or step logs (business
 * records, kept for as long as the law says: archive or partition them, see docs/operations.md).
 *
 * Deletion goes in batches of `batchSize` rows, one short statement each, skipping rows another
 * transaction holds locked (a dispatcher re-sending a notification): safe beside running workers.
 */
export async function pruneOperationalData(
  db: DatabaseHandle,
  options: PruneOptions = {},
): Promise<PruneReport> {
  const batchSize = options.batchSize ?? 5_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `batchSize must be a whole number from 1 to 100000, not ${batchSize}`,
    );
  }
  const age = (name: keyof typeof defaultPruneAges) =>
    checkPruneAge(name, options[name] ?? defaultPruneAges[name]);
  const ages = {
    notifications: age("notificationsOlderThanMs"),
    inboxEntries: age("inboxOlderThanMs"),
    queuedStarts: age("queuedStartsOlderThanMs"),
    queryCacheEntries: age("queryCacheOlderThanMs"),
  };
  const report: PruneReport = {
    dryRun: options.dryRun === true,
    notifications: 0,
    inboxEntries: 0,
    queuedStarts: 0,
    queryCacheEntries: 0,
  };
  await requireRetentionMigration(db);
  const databasePresent = await databaseNow(db);
  const now =
    options.now === undefined ? databasePresent : checkPresent(options.now, databasePresent);
  for (const rows of prunableRows(db.schema)) {
    const cutoff = timeParam(now - ages[rows.kind]);
    report[rows.kind] += options.dryRun
      ? await countRows(db, rows, cutoff)
      : await deleteRows(db, rows, cutoff, batchSize);
  }
  return report;
}

/**
 * Without migration 0045 a prune would fail on `failed_at`, or read whole tables for want of its
 * indexes: refused up front, saying what to run.
 */
async function requireRetentionMigration(db: DatabaseHandle): Promise<void> {
  let applied: Row[];
  try {
    applied = (
      (await db.knex.raw(
        `SELECT 1 FROM ${quoteIdentifier(db.schema)}."knex_migrations" WHERE name = ?`,
        [retentionMigration.name],
      )) as { rows: Row[] }
    ).rows;
  } catch (error) {
    throw translateStoreError(error, { target: db.target });
  }
  if (applied.length === 0) {
    throw new CapflowError(
      "STORE_FAILED",
      `capflow's tables in ${db.target} are older than pruning needs (migration ${retentionMigration.name}): run \`capflow migrate\` (or \`db.migrate()\`) with the same schema, then prune again`,
    );
  }
}

/**
 * The database's present: one clock for every run wherever it is started, whereas the host that
 * runs a prune (a cron box, an operator's laptop) may be ahead of the nodes and delete too much.
 */
async function databaseNow(db: DatabaseHandle): Promise<number> {
  const [row] = await query(db, "SELECT now() AS now");
  return epochMs(row?.now);
}

/** How far a given present may run ahead of the database's: clocks a little apart, no more. */
const presentToleranceMs = 60_000;

/**
 * Returns `now` when it is not ahead of the database's present (beyond the tolerance); a present
 * in the future would age every row by the difference and take rows past their floors.
 */
function checkPresent(now: number, databasePresent: number): number {
  if (!Number.isFinite(now)) {
    throw new CapflowError("CONFIG_INVALID", `now must be epoch milliseconds, not ${now}`, {
      context: { option: "now" },
    });
  }
  if (now > databasePresent + presentToleranceMs) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `now (${instant(now)}) is ahead of the database's clock (${instant(databasePresent)}) by more than a minute: it would delete rows younger than their ages and floors; leave now out to count from the database's clock, or give a present at or before it`,
      { context: { option: "now", databaseNow: databasePresent } },
    );
  }
  return now;
}

/** An instant in ISO 8601, or in milliseconds when it is beyond what a Date holds. */
function instant(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}

function prunableRows(schema: string): PrunableRows[] {
  const table = (name: string) => `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
  return [
    {
      // A row is delivered after it is made, so created_at bounds the scan (outbox_listing).
      kind: "notifications",
      table: table("outbox"),
      key: "id",
      where: "status = 'delivered' AND created_at < :cutoff AND delivered_at < :cutoff",
      order: "created_at",
    },
    {
      // outbox_undelivered (status, created_at). Without failed_at (failed by an older node), the
      // age counts from the creation or the last re-send.
      kind: "notifications",
      table: table("outbox"),
      key: "id",
      where:
        "status = 'failed' AND created_at < :cutoff AND COALESCE(failed_at, GREATEST(created_at, resent_at)) < :cutoff",
      order: "created_at",
    },
    {
      // inbox_processed; an entry keeping the notification as received (raw) is evidence, kept.
      kind: "inboxEntries",
      table: table("inbox"),
      key: "id",
      where: "processed_at IS NOT NULL AND raw IS NULL AND processed_at < :cutoff",
      order: "processed_at",
    },
    {
      kind: "queuedStarts",
      table: table("queued_starts"),
      key: "id",
      where: "status <> 'queued' AND finished_at < :cutoff",
      order: "finished_at",
    },
    {
      kind: "queryCacheEntries",
      table: table("query_cache"),
      key: "key",
      where: "expires_at <= :cutoff",
      order: "expires_at",
    },
  ];
}

async function countRows(db: DatabaseHandle, rows: PrunableRows, cutoff: Date): Promise<number> {
  const [row] = await query(
    db,
    `SELECT count(*) AS n FROM ${rows.table} WHERE ${rows.where}`,
    cutoff,
  );
  return Number(row?.n ?? 0);
}

async function deleteRows(
  db: DatabaseHandle,
  rows: PrunableRows,
  cutoff: Date,
  batchSize: number,
): Promise<number> {
  // The condition is checked again by the DELETE on the row it locked: a row re-sent or changed
  // since the scan read it stays.
  const statement = `WITH doomed AS (
      SELECT ${rows.key} FROM ${rows.table} WHERE ${rows.where}
      ORDER BY ${rows.order} LIMIT ${batchSize} FOR UPDATE SKIP LOCKED
    ), gone AS (
      DELETE FROM ${rows.table} WHERE ${rows.key} IN (SELECT ${rows.key} FROM doomed) AND ${rows.where}
      RETURNING 1
    )
    SELECT count(*) AS n FROM gone`;
  let deleted = 0;
  for (;;) {
    const [row] = await query(db, statement, cutoff);
    const n = Number(row?.n ?? 0);
    deleted += n;
    if (n < batchSize) return deleted;
  }
}

async function query(db: DatabaseHandle, sql: string, cutoff?: Date): Promise<Row[]> {
  try {
    const result = await (cutoff === undefined ? db.knex.raw(sql) : db.knex.raw(sql, { cutoff }));
    return (result as { rows: Row[] }).rows;
  } catch (error) {
    throw translateStoreError(error, { target: db.target });
  }
}
