import { resolve } from "node:path";
import {
  CapflowError,
  type ChannelDefinition,
  createDefaultSecretResolver,
  type DefinitionSet,
  type DefinitionSource,
  RawMessageKeyring,
} from "@capflow/core";
import type { Command } from "commander";

/** The environment variable read when `--raw-message-keys` is not given. */
export const rawMessageKeysVariable = "CAPFLOW_RAW_MESSAGE_KEYS";

export interface RawMessageKeysOptions {
  rawMessageKeys?: string;
}

export interface KeepRawMessagesOptions extends RawMessageKeysOptions {
  keepRawMessages?: boolean;
}

const keysHelp = `the keys that encrypt messages kept as sent and received: env:NAME or file:PATH holding \`keyId=<32 bytes in base64>\` entries, the current one first (default: env:${rawMessageKeysVariable} when set)`;

export function addRawMessageKeysOption(command: Command): Command {
  return command.option("--raw-message-keys <ref>", keysHelp);
}

/** `--raw-message-keys`, and `--keep-raw-messages` for the commands that run steps. */
export function addKeepRawMessagesOptions(command: Command): Command {
  return addRawMessageKeysOption(command).option(
    "--keep-raw-messages",
    "keep each request and response as sent and received in the step log, encrypted with the raw message keys (for disputes)",
  );
}

/**
 * The operator's raw message keys, from `--raw-message-keys` or the environment; undefined when
 * neither gives any. The key material is read through the secret resolver and never printed.
 */
export async function rawMessageKeysFromOptions(
  options: RawMessageKeysOptions,
  cwd: string,
): Promise<RawMessageKeyring | undefined> {
  const reference =
    options.rawMessageKeys ??
    (process.env[rawMessageKeysVariable] === undefined
      ? undefined
      : `env:${rawMessageKeysVariable}`);
  if (reference === undefined) return undefined;
  const secret = await createDefaultSecretResolver().resolve(reference, { baseDir: resolve(cwd) });
  return RawMessageKeyring.parse(secret);
}

/** The engine options of a command that runs steps or takes callbacks. */
export async function rawMessageEngineOptions(
  options: KeepRawMessagesOptions,
  cwd: string,
): Promise<{ keepRawMessages?: boolean; rawMessageKeys?: RawMessageKeyring }> {
  const rawMessageKeys = await rawMessageKeysFromOptions(options, cwd);
  // Refused before anything opens: messages kept as sent are never stored in clear.
  if (options.keepRawMessages === true && rawMessageKeys === undefined)
    throw new CapflowError(
      "RAW_MESSAGE_KEY_MISSING",
      `--keep-raw-messages stores messages as sent, encrypted: set ${rawMessageKeysVariable} or give --raw-message-keys env:NAME|file:PATH (\`keyId=<32 bytes in base64>\`, the current key first)`,
    );
  return {
    ...(options.keepRawMessages === true ? { keepRawMessages: true } : {}),
    ...(rawMessageKeys ? { rawMessageKeys } : {}),
  };
}

/**
 * At push time, with the channels' secrets checked: callbacks that keep notifications as
 * received need the raw message keys, so a push without them fails rather than leaving the
 * servers to refuse every such notification.
 */
export async function checkRawMessageKeysFor(
  definitions: Pick<DefinitionSet, "channels">,
  options: RawMessageKeysOptions,
  cwd: string,
): Promise<void> {
  const keeping = callbacksKeepingRawBodies(definitions.channels);
  if (keeping.length === 0) return;
  if ((await rawMessageKeysFromOptions(options, cwd)) === undefined)
    throw new CapflowError(
      "RAW_MESSAGE_KEY_MISSING",
      `${describeKeeping(keeping)}: set ${rawMessageKeysVariable} or give --raw-message-keys env:NAME|file:PATH (as capflow serve will have them), or push with --no-check-secrets where only the servers hold the keys`,
    );
}

/**
 * When `capflow serve` starts without keys: the stored channels must not keep notifications as
 * received, or the server would refuse each of them; it refuses to start instead.
 */
export async function checkStoredChannelsNeedNoKeys(definitions: DefinitionSource): Promise<void> {
  const codes = [...new Set((await definitions.listBehaviors()).map((ref) => ref.channel))];
  const channels = await Promise.all(codes.map((code) => definitions.getChannel(code)));
  const keeping = callbacksKeepingRawBodies(
    channels.flatMap((loaded) => (loaded === undefined ? [] : [loaded.definition])),
  );
  if (keeping.length > 0)
    throw new CapflowError(
      "RAW_MESSAGE_KEY_MISSING",
      `${describeKeeping(keeping)}: set ${rawMessageKeysVariable} or give --raw-message-keys env:NAME|file:PATH`,
    );
}

function callbacksKeepingRawBodies(channels: readonly ChannelDefinition[]): string[] {
  return channels.flatMap((channel) =>
    Object.entries(channel.callbacks ?? {})
      .filter(([, callback]) => callback.keepRawBody === true)
      .map(([name]) => `${channel.code} callback "${name}"`),
  );
}

function describeKeeping(keeping: readonly string[]): string {
  return `${keeping.join(", ")} keep${keeping.length === 1 ? "s" : ""} notifications as received (keepRawBody), stored encrypted`;
}
