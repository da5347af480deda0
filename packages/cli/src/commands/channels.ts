import {
  CapflowError,
  type ChannelDefinition,
  channelPeriods,
  describeFutureValues,
} from "@capflow/core";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import { iso } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface ShowOptions extends DatabaseOptions {
  json?: boolean;
}

/**
 * `capflow channels`: the stored channels as workers run them. `show` prints the values in effect
 * now and every scheduled change (`future`), past and to come, with its instant and overlap.
 */
export const channelsCommand: CapflowCommand = {
  name: "channels",
  register(program, context) {
    const channels = program
      .command("channels")
      .description("show stored channels: the values in effect now and the changes scheduled");
    addDatabaseOptions(
      channels
        .command("show")
        .description("a channel's values in effect now and its scheduled changes (future values)")
        .argument("<code>", "channel code")
        .option("--json", "as JSON: the values in effect now and every period"),
    ).action((code: string, options: ShowOptions) =>
      withDatabase(options, context, (db) =>
        db.definitions.getChannel(code).then((loaded) => {
          if (loaded === undefined) {
            throw new CapflowError(
              "DEFINITION_NOT_FOUND",
              `channel "${code}" is not stored; push it first (capflow push <dir>)`,
            );
          }
          showChannel(loaded.definition, Date.now(), options.json === true, context);
        }),
      ),
    );
  },
};

function showChannel(channel: ChannelDefinition, now: number, json: boolean, context: CliContext) {
  const periods = channelPeriods(channel);
  const current = [...periods].reverse().find((p) => p.from === undefined || p.from <= now)!;
  if (json) {
    context.out(
      `${JSON.stringify(
        {
          code: channel.code,
          at: iso(now),
          current: current.definition,
          periods: periods.map((p) => ({
            from: p.from === undefined ? null : iso(p.from),
            until: p.until === undefined ? null : iso(p.until),
            state: p === current ? "current" : (p.from ?? 0) > now ? "scheduled" : "past",
            ...(p.entry === undefined ? {} : { entry: channel.future?.[p.entry] }),
          })),
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  const d = current.definition;
  const fields: [string, string][] = [
    ["channel", `${d.code} (${d.name})`],
    ["in effect", current.from === undefined ? "the base values" : `since ${iso(current.from)}`],
    ["base URL", d.baseUrl],
    ["time zone", d.timeZone],
    ["crypto", d.crypto.handler],
    ["interfaces", Object.keys(d.interfaces).join(", ") || "-"],
    ["callbacks", Object.keys(d.callbacks ?? {}).join(", ") || "-"],
  ];
  if (current.previous !== undefined && now < current.previous.overlapUntil) {
    fields.push([
      "previous keys",
      `still open messages until ${iso(current.previous.overlapUntil)}`,
    ]);
  }
  const width = Math.max(...fields.map(([name]) => name.length));
  for (const [name, value] of fields) context.out(`${name.padEnd(width)}  ${value}\n`);
  const scheduled = periods.filter((p) => p.entry !== undefined);
  if (scheduled.length === 0) {
    context.out("\nno future values scheduled\n");
    return;
  }
  context.out("\nfuture values:\n");
  for (const period of scheduled) {
    const entry = channel.future![period.entry!]!;
    const state = period === current ? "in effect" : period.from! > now ? "scheduled" : "past";
    context.out(
      `  ${iso(period.from!)} (${entry.effectiveFrom}, ${state}; previous keys still open messages for ${entry.overlap ?? "1h"})${entry.description ? `: ${entry.description}` : ""}\n`,
    );
    for (const line of describeFutureValues(entry.values)) context.out(`    ${line}\n`);
  }
}
