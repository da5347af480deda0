import type { StuckBreach } from "@capflow/core";
import { KnexStuckStore } from "@capflow/store-knex";
import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import { plural } from "../plural.ts";
import { positiveInteger } from "../positive-integer.ts";
import { iso, textTable } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface StuckOptions extends DatabaseOptions {
  channel?: string;
  behavior?: string;
  limit: string;
  json?: boolean;
}

/**
 * `capflow instances stuck`: instances past their stuck-order limit (卡单), as the monitor
 * recorded them (`capflow worker` runs it), the longest stuck first.
 */
export function registerStuckInstances(instances: Command, context: CliContext): void {
  addDatabaseOptions(
    instances
      .command("stuck")
      .description("instances past their SLA (stuck orders), the longest stuck first")
      .option("--channel <code>", "only this channel")
      .option("--behavior <code>", "only this behavior")
      .option("--limit <n>", "at most this many", "50")
      .option("--json", "one JSON object per line"),
  ).action((options: StuckOptions) =>
    withDatabase(options, context, async (db) => {
      const limit = positiveInteger(options.limit, "--limit");
      const stuck = await new KnexStuckStore(db).listStuck({
        ...(options.channel ? { channel: options.channel } : {}),
        ...(options.behavior ? { behavior: options.behavior } : {}),
        limit,
      });
      printStuck(stuck, limit, options.json === true, context);
    }),
  );
}

function printStuck(stuck: StuckBreach[], limit: number, json: boolean, context: CliContext) {
  if (json) {
    for (const breach of stuck) {
      context.out(
        `${JSON.stringify({
          instanceId: breach.instanceId,
          channel: breach.channel,
          behavior: breach.behavior,
          businessKey: breach.businessKey,
          step: breach.step,
          scope: breach.scope,
          slaMs: breach.slaMs,
          since: iso(breach.since),
          detectedAt: iso(breach.detectedAt),
        })}\n`,
      );
    }
    return;
  }
  const rows = stuck.map((breach) => [
    breach.instanceId,
    `${breach.channel}/${breach.behavior}`,
    breach.businessKey,
    breach.step,
    breach.scope === "step"
      ? `step ${formatMs(breach.slaMs)}`
      : `behavior ${formatMs(breach.slaMs)}`,
    iso(breach.since),
    iso(breach.detectedAt),
  ]);
  for (const line of textTable(
    ["id", "channel/behavior", "business key", "step", "limit", "since", "detected"],
    rows,
  )) {
    context.out(`${line}\n`);
  }
  context.out(
    `${plural(stuck.length, "stuck instance")}${stuck.length === limit ? ` (--limit ${limit})` : ""}\n`,
  );
}

function formatMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
