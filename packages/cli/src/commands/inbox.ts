import type { CallbackPayload, InboxEntry, InstanceRecord } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import { plural } from "../plural.ts";
import { positiveInteger } from "../positive-integer.ts";
import { iso, textTable } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface ListOptions extends DatabaseOptions {
  olderThan: string;
  limit: string;
  json?: boolean;
}

/**
 * `capflow inbox list`: verified callbacks no step has consumed yet. The worker's sweep records
 * those whose instance settled first; what stays is waiting for its instance's callback step, or
 * for a business key no instance has (a funder's notification for a loan started elsewhere, or
 * a mistyped correlation expression), which a person has to look at. Bodies print masked.
 */
export const inboxCommand: CapflowCommand = {
  name: "inbox",
  register(program, context) {
    const inbox = program
      .command("inbox")
      .description("callbacks received and not yet consumed by any instance: list");

    addDatabaseOptions(
      inbox
        .command("list")
        .description("unconsumed callbacks, oldest first, with the instances of their business key")
        .option("--older-than <duration>", "only those received at least this long ago", "0s")
        .option("--limit <n>", "at most this many", "50")
        .option("--json", "one JSON object per line"),
    ).action((options: ListOptions) =>
      withDatabase(options, context, (db) => listInbox(db, options, context)),
    );
  },
};

async function listInbox(db: CapflowDatabase, options: ListOptions, context: CliContext) {
  const limit = positiveInteger(options.limit, "--limit");
  const entries = await db.instances.staleInbox({
    // Inclusive of the present moment: a callback received this millisecond is listed too.
    receivedBefore: Date.now() + 1 - parseDuration(options.olderThan),
    limit,
  });
  const listed = await Promise.all(
    entries.map(async (entry) => ({
      entry,
      instances: await db.instances.listInstances({
        channel: entry.channel,
        businessKey: entry.businessKey,
      }),
    })),
  );
  if (options.json) {
    for (const { entry, instances } of listed) {
      context.out(`${JSON.stringify(jsonOf(entry, instances))}\n`);
    }
    return;
  }
  const rows = listed.map(({ entry, instances }) => {
    const payload = entry.payload as Partial<CallbackPayload>;
    return [
      iso(entry.receivedAt),
      entry.channel,
      entry.callback,
      entry.businessKey,
      `${payload.outcome ?? ""}${payload.code ? ` (${payload.code})` : ""}`,
      instances.length === 0 ? "none" : instances.map(instanceCell).join(", "),
    ];
  });
  for (const line of textTable(
    ["received", "channel", "callback", "business key", "outcome", "instances"],
    rows,
  )) {
    context.out(`${line}\n`);
  }
  context.out(
    `${plural(listed.length, "callback")}${listed.length === limit ? ` (--limit ${limit})` : ""}\n`,
  );
}

function instanceCell(instance: InstanceRecord): string {
  return `${instance.behavior} ${instance.status} at ${instance.step}`;
}

function jsonOf(entry: InboxEntry, instances: readonly InstanceRecord[]) {
  const payload = entry.payload as Partial<CallbackPayload>;
  return {
    id: entry.id,
    channel: entry.channel,
    callback: entry.callback,
    dedupeKey: entry.dedupeKey,
    businessKey: entry.businessKey,
    receivedAt: iso(entry.receivedAt),
    outcome: payload.outcome ?? null,
    code: payload.code ?? null,
    // The masked copy only: the inbox keeps the clear body for processing, operators need not.
    body: payload.masked ?? null,
    instances: instances.map((instance) => ({
      id: instance.id,
      behavior: instance.behavior,
      step: instance.step,
      status: instance.status,
    })),
  };
}
