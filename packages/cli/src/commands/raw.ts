import {
  CapflowError,
  type InboxEntry,
  isCapflowError,
  isSealedRawMessage,
  type RawExchangeMessages,
  type RawMessageKeyring,
  type RawNotification,
  type StepLogEntry,
} from "@capflow/core";
import { type CapflowDatabase, keptNotifications, resealRawMessages } from "@capflow/store-knex";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import { plural } from "../plural.ts";
import { positiveInteger } from "../positive-integer.ts";
import {
  addRawMessageKeysOption,
  type RawMessageKeysOptions,
  rawMessageKeysFromOptions,
  rawMessageKeysVariable,
} from "../raw-message-keys-option.ts";
import { iso } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface ShowOptions extends DatabaseOptions, RawMessageKeysOptions {
  json?: boolean;
}

/** One kept message, opened, or why it could not be. */
type Opened<T> = { message: T } | { error: { code: string; message: string } };

/**
 * `capflow raw show`: the messages an instance exchanged, as sent and received, decrypted with
 * the operator's raw message keys, for re-verifying a signature or settling a dispute offline.
 * The operator API and the console never show them: reading them takes the database and the key.
 * `capflow raw reseal` seals every kept message with the current key (after a rotation).
 */
export const rawCommand: CapflowCommand = {
  name: "raw",
  register(program, context) {
    const raw = program
      .command("raw")
      .description(
        "messages kept as sent and received (encrypted at rest): show them decrypted for offline re-verification, reseal them with the current key",
      );

    addRawMessageKeysOption(
      addDatabaseOptions(
        raw
          .command("show")
          .description(
            "an instance's requests and responses and its business key's notifications, as sent and received (not masked: personal data in clear)",
          )
          .argument("<id>", "instance id")
          .option("--json", "as JSON"),
      ),
    ).action(async (id: string, options: ShowOptions) => {
      const keys = await requiredKeys(options, context);
      await withDatabase(options, context, (db) => showRaw(db, keys, id, options, context));
    });

    addRawMessageKeysOption(
      addDatabaseOptions(
        raw
          .command("reseal")
          .description(
            "seal every kept message with the current raw message key: after a rotation, before retiring the old key, and for messages an earlier capflow kept in clear",
          )
          .option("--batch-size <n>", "rows read and written per round trip", "500")
          .option("--json", "print the outcome as JSON"),
      ),
    ).action(async (options: ResealCommandOptions) => {
      const batchSize = positiveInteger(options.batchSize, "--batch-size");
      const keys = await requiredKeys(options, context);
      await withDatabase(options, context, async (db) => {
        const report = await resealRawMessages(db, {
          currentKeyId: keys.currentKeyId,
          reseal: (stored, kind) => keys.reseal(stored, kind),
          batchSize,
        });
        if (report.unreadable.length > 0) context.setExitCode(1);
        if (options.json === true) {
          context.out(`${JSON.stringify({ keyId: keys.currentKeyId, ...report })}\n`);
          return;
        }
        context.out(
          `sealed with key ${keys.currentKeyId}: ${plural(report.stepLogs, "step log message")}, ${plural(report.inbox, "notification")}\n`,
        );
        for (const row of report.unreadable)
          context.out(`left as it is: ${row.kind} ${row.id}: ${row.code}: ${row.message}\n`);
      });
    });
  },
};

interface ResealCommandOptions extends DatabaseOptions, RawMessageKeysOptions {
  batchSize: string;
  json?: boolean;
}

/** The keys, or a refusal saying where to put them: without them nothing is read. */
async function requiredKeys(
  options: RawMessageKeysOptions,
  context: CliContext,
): Promise<RawMessageKeyring> {
  const keys = await rawMessageKeysFromOptions(options, context.cwd);
  if (keys === undefined)
    throw new CapflowError(
      "RAW_MESSAGE_KEY_MISSING",
      `raw messages are stored encrypted: set ${rawMessageKeysVariable} or give --raw-message-keys env:NAME|file:PATH with the keys capflow serve and capflow worker use`,
    );
  return keys;
}

async function showRaw(
  db: CapflowDatabase,
  keys: RawMessageKeyring,
  id: string,
  options: ShowOptions,
  context: CliContext,
) {
  const instance = await db.instances.getInstance(id);
  if (instance === undefined)
    throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}`, {
      context: { instance: id },
    });
  const exchanges = (await db.instances.history(id))
    .filter((entry) => entry.raw !== undefined)
    .map((entry) => ({ entry, opened: openKept<RawExchangeMessages>(keys, entry, "step-log") }));
  const notifications = (
    await keptNotifications(db, { channel: instance.channel, businessKey: instance.businessKey })
  )
    .filter((entry) => entry.account === instance.account)
    .map((entry) => ({ entry, opened: openKept<RawNotification>(keys, entry, "inbox") }));
  const failed = [...exchanges, ...notifications].some(({ opened }) => "error" in opened);
  if (failed) context.setExitCode(1);

  if (options.json === true) {
    context.out(
      `${JSON.stringify(
        {
          instance: instance.id,
          exchanges: exchanges.map(({ entry, opened }) => ({
            entry: entry.id,
            step: entry.step,
            attempt: entry.attempt,
            at: iso(entry.startedAt),
            ...("message" in opened ? opened.message : opened),
          })),
          notifications: notifications.map(({ entry, opened }) => ({
            entry: entry.id,
            callback: entry.callback,
            dedupeKey: entry.dedupeKey,
            receivedAt: iso(entry.receivedAt),
            ...("message" in opened ? opened.message : opened),
          })),
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  context.out(
    `${instance.channel}/${instance.behavior} ${instance.businessKey} (${instance.id})\n`,
  );
  if (exchanges.length === 0 && notifications.length === 0)
    context.out("no message kept (keepRawMessages off, no callback with keepRawBody)\n");
  for (const { entry, opened } of exchanges) {
    context.out(
      `\nstep ${entry.step}, attempt ${entry.attempt}, ${iso(entry.startedAt)} (${entry.id})\n`,
    );
    if ("error" in opened) {
      context.out(`  ${opened.error.code}: ${opened.error.message}\n`);
      continue;
    }
    const message = opened.message;
    for (const [label, value] of [
      ["request", message.request],
      ["request bytes (base64)", message.requestBytes],
      ["response", message.response],
      ["response bytes (base64)", message.responseBytes],
    ] as const) {
      if (value !== undefined) context.out(`${label}:\n${value}\n`);
    }
  }
  for (const { entry, opened } of notifications) {
    context.out(
      `\nnotification ${entry.callback} ${entry.dedupeKey}, received ${iso(entry.receivedAt)} (${entry.id})\n`,
    );
    if ("error" in opened) {
      context.out(`  ${opened.error.code}: ${opened.error.message}\n`);
      continue;
    }
    context.out(`body:\n${opened.message.body}\n`);
    if (opened.message.bytes !== undefined)
      context.out(`body bytes (base64):\n${opened.message.bytes}\n`);
  }
}

function openKept<T extends RawExchangeMessages | RawNotification>(
  keys: RawMessageKeyring,
  entry: StepLogEntry | InboxEntry,
  kind: "step-log" | "inbox",
): Opened<T> {
  const raw: unknown = entry.raw;
  if (!isSealedRawMessage(raw))
    return {
      error: {
        code: "RAW_MESSAGE_DECRYPT_FAILED",
        message:
          "not a sealed raw message (kept in clear by an earlier capflow, or altered); not shown",
      },
    };
  try {
    const message = kind === "step-log" ? keys.open(raw, "step-log") : keys.open(raw, "inbox");
    return { message: message as T };
  } catch (error) {
    if (!isCapflowError(error)) throw error;
    return { error: { code: error.code, message: error.message } };
  }
}
