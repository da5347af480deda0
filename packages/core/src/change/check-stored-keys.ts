import type { CryptoHandlerRegistry } from "../crypto/handler-registry.ts";
import { loadPublicKey, loadSecretKey } from "../crypto/keys/load-key.ts";
import { accountCrypto } from "../definition/account-definition.ts";
import { isRetiredClient } from "../definition/client-retired.ts";
import { type CapflowError, toCapflowError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import { loadChannelTls } from "../transport/channel-tls.ts";

/** A stored channel (or one of its accounts) or upstream client whose keys did not load. */
export interface StoredKeyFailure {
  kind: "channel" | "client";
  /** The channel's code or the client's id. */
  id: string;
  /** The channel account whose keys did not load, if it was an account's. */
  account?: string;
  error: CapflowError;
}

export interface StoredKeysReport {
  /** How many channels and clients were checked. */
  checked: { channels: number; clients: number };
  failures: StoredKeyFailure[];
}

export interface CheckStoredKeysOptions {
  cryptoHandlers: CryptoHandlerRegistry;
  secrets: SecretResolver;
  clock: Pick<Clock, "now">;
  /** Only the channels and clients it keeps are loaded (and counted); default all. */
  select?: (kind: StoredKeyFailure["kind"], id: string) => boolean;
}

/**
 * Loads the keys of every stored channel (its crypto handler, each account's, its TLS identity) and
 * every upstream client's verification key, as the engine and the intake will at their first call,
 * each relative `file:` reference against the folder the definition source gives. What a process
 * serving these definitions checks as it starts, so that a wrong keys folder is said then, not at
 * the first call. Retired clients are skipped: they verify nothing.
 */
export async function checkStoredKeys(
  definitions: DefinitionSource,
  options: CheckStoredKeysOptions,
): Promise<StoredKeysReport> {
  const failures: StoredKeyFailure[] = [];
  const selected = options.select ?? (() => true);
  const channels = (await definitions.listChannels()).filter((code) => selected("channel", code));
  for (const code of channels) {
    const loaded = await definitions.getChannel(code);
    if (loaded === undefined) continue;
    const { definition } = loaded;
    const where = loaded.baseDir === undefined ? {} : { baseDir: loaded.baseDir };
    const accounts: (string | undefined)[] = [undefined, ...Object.keys(definition.accounts ?? {})];
    for (const accountCode of accounts) {
      const account = accountCode === undefined ? undefined : definition.accounts?.[accountCode];
      if (
        accountCode !== undefined &&
        account?.crypto === undefined &&
        account?.tls === undefined
      ) {
        continue;
      }
      try {
        await options.cryptoHandlers.create(
          account ? accountCrypto(definition, account) : definition.crypto,
          { secrets: options.secrets, clock: options.clock, channel: code, ...where },
        );
        await loadChannelTls(account?.tls ?? definition.tls, {
          secrets: options.secrets,
          context: { channel: code, role: "tls", ...(accountCode ? { account: accountCode } : {}) },
          ...where,
        });
      } catch (error) {
        failures.push({
          kind: "channel",
          id: code,
          ...(accountCode === undefined ? {} : { account: accountCode }),
          error: toCapflowError(error),
        });
        // One failure per channel says it: its accounts share its keys folder.
        break;
      }
    }
  }
  const clients = (await definitions.listClients()).filter((id) => selected("client", id));
  for (const id of clients) {
    const loaded = await definitions.getClient(id);
    if (loaded === undefined || isRetiredClient(loaded.definition)) continue;
    const { algorithm, key } = loaded.definition.signature;
    const spec = { ref: key.ref, ...(key.format === undefined ? {} : { format: key.format }) };
    const context = {
      secrets: options.secrets,
      ...(loaded.baseDir === undefined ? {} : { baseDir: loaded.baseDir }),
      context: { client: id, role: "intake-verification" },
    };
    try {
      if (algorithm === "rsa-sha256") await loadPublicKey(spec, "rsa", context);
      else if (algorithm === "sm2-sm3") await loadPublicKey(spec, "sm2", context);
      else await loadSecretKey(spec, context);
    } catch (error) {
      failures.push({ kind: "client", id, error: toCapflowError(error) });
    }
  }
  return { checked: { channels: channels.length, clients: clients.length }, failures };
}
