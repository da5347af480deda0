import {
  CapflowError,
  clientNotifyUrls,
  createNotificationSigner,
  type DefinitionSource,
  notificationTargets,
  OutboxDispatcher,
  type OutboxEvent,
  type OutboxStore,
} from "@capflow/core";
import type { Command } from "commander";

/** The notification options of `capflow worker` (and of any command that runs a worker). */
export interface NotifyOptions {
  notifyUrl?: string;
  notifySecret?: string;
  notifyKey?: string;
}

export function addNotifyOptions(command: Command): Command {
  return command
    .option(
      "--notify-url <url>",
      "notify the upstream: settled instances and those needing attention are posted here, signed, retried until acknowledged (see docs/serving.md)",
    )
    .option(
      "--notify-secret <ref>",
      "with --notify-url: sign with HMAC-SHA256 and this shared secret (env:NAME or file:PATH)",
    )
    .option(
      "--notify-key <ref>",
      "with --notify-url: sign with RSA-SHA256 and this private key (PEM, env:NAME or file:PATH)",
    );
}

/**
 * The engine's notification setting and the dispatcher delivering them, when `--notify-url` is
 * given; undefined otherwise (nothing written, nothing delivered).
 */
export async function notificationsFromOptions(
  options: NotifyOptions,
  deps: {
    store: OutboxStore;
    definitions: DefinitionSource;
    baseDir: string;
    onEvent?: (event: OutboxEvent) => void;
  },
): Promise<{ dispatcher: OutboxDispatcher } | undefined> {
  if (options.notifyUrl === undefined) {
    if (options.notifySecret !== undefined || options.notifyKey !== undefined)
      throw new CapflowError(
        "CONFIG_INVALID",
        "--notify-secret and --notify-key sign notifications: give --notify-url too",
      );
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(options.notifyUrl);
  } catch {
    throw new CapflowError("CONFIG_INVALID", "--notify-url must be an http:// or https:// URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new CapflowError("CONFIG_INVALID", "--notify-url must be an http:// or https:// URL");
  if ((options.notifySecret === undefined) === (options.notifyKey === undefined))
    throw new CapflowError(
      "CONFIG_INVALID",
      "notifications are signed: give either --notify-secret (HMAC-SHA256) or --notify-key (RSA-SHA256)",
    );
  const signer = await createNotificationSigner(
    options.notifySecret !== undefined
      ? { algorithm: "hmac-sha256", secret: { ref: options.notifySecret } }
      : { algorithm: "rsa-sha256", privateKey: { ref: options.notifyKey! } },
    { baseDir: deps.baseDir },
  );
  const dispatcher = new OutboxDispatcher({
    store: deps.store,
    targets: notificationTargets({
      fallback: url.toString(),
      byName: clientNotifyUrls(deps.definitions),
    }),
    signer,
    ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
  });
  return { dispatcher };
}
