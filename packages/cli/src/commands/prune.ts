import { CapflowError, type Duration } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import { checkPruneAge, type PruneOptions, pruneOperationalData } from "@capflow/store-knex";
import type { CapflowCommand } from "../command.ts";
import { positiveInteger } from "../positive-integer.ts";
import { textTable } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface PruneCommandOptions extends DatabaseOptions {
  notificationsOlderThan: string;
  inboxOlderThan: string;
  queuedStartsOlderThan: string;
  queryCacheOlderThan: string;
  batchSize: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Each age flag, the option it sets, and how the table names the rows it reaches. */
const ages = [
  {
    flag: "--notifications-older-than",
    key: "notificationsOlderThan",
    option: "notificationsOlderThanMs",
    kind: "notifications",
    label: "notifications delivered or failed",
    help: "delete notifications delivered or failed at least this long ago, 7d or more (never a pending one)",
    fallback: "90d",
  },
  {
    flag: "--inbox-older-than",
    key: "inboxOlderThan",
    option: "inboxOlderThanMs",
    kind: "inboxEntries",
    label: "inbox entries processed",
    help: "delete inbox entries processed at least this long ago, 7d or more (never an unprocessed one, nor one kept as received); a funder's repeat after that is taken as a new, late callback",
    fallback: "90d",
  },
  {
    flag: "--queued-starts-older-than",
    key: "queuedStartsOlderThan",
    option: "queuedStartsOlderThanMs",
    kind: "queuedStarts",
    label: "queued starts closed",
    help: "delete queued starts started, expired or given up at least this long ago, 1d or more (never one still queued)",
    fallback: "30d",
  },
  {
    flag: "--query-cache-older-than",
    key: "queryCacheOlderThan",
    option: "queryCacheOlderThanMs",
    kind: "queryCacheEntries",
    label: "cached queries expired",
    help: "delete cached query answers expired at least this long ago",
    fallback: "0s",
  },
] as const;

/**
 * `capflow prune`: deletes operational rows past their age (delivered and failed notifications,
 * processed inbox entries, closed queued starts, expired cached queries), in small batches, beside
 * running workers. Instances and step logs are never deleted.
 */
export const pruneCommand: CapflowCommand = {
  name: "prune",
  register(program, context) {
    let command = program
      .command("prune")
      .description(
        "delete old operational rows (notifications sent, callbacks processed, closed queued starts, expired cached queries); never instances or step logs",
      );
    for (const age of ages)
      command = command.option(`${age.flag} <duration>`, age.help, age.fallback);
    addDatabaseOptions(
      command
        .option(
          "--batch-size <n>",
          "rows per DELETE statement, each its own short transaction",
          "5000",
        )
        .option("--dry-run", "only count what would be deleted")
        .option("--json", "print the counts as one JSON object"),
    ).action(async (options: PruneCommandOptions) => {
      // Every flag is checked before the database is opened.
      const pruneOptions: PruneOptions = {
        batchSize: positiveInteger(options.batchSize, "--batch-size"),
        dryRun: options.dryRun === true,
      };
      for (const age of ages) {
        const ms = ageMs(options[age.key], age.flag);
        pruneOptions[age.option] = checkPruneAge(age.option, ms, age.flag);
      }
      await withDatabase(options, context, async (db) => {
        const report = await pruneOperationalData(db, pruneOptions);
        if (options.json === true) {
          context.out(`${JSON.stringify({ target: db.target, ...report })}\n`);
          return;
        }
        context.out(
          report.dryRun ? `${db.target}: dry run, nothing deleted\n` : `${db.target}: pruned\n`,
        );
        for (const line of textTable(
          ["rows", "older than", report.dryRun ? "would delete" : "deleted"],
          ages.map((age) => [age.label, options[age.key], String(report[age.kind])]),
        )) {
          context.out(`${line}\n`);
        }
      });
    });
  },
};

function ageMs(value: string, flag: string): number {
  try {
    return parseDuration(value as Duration);
  } catch {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${flag} takes a duration such as 90d, 36h or 0s, not ${JSON.stringify(value)}`,
    );
  }
}
