import { isAbsolute } from "node:path";
import {
  CapflowError,
  type CryptoHandlerRegistry,
  createDefaultSecretResolver,
  type DefinitionSource,
  isCapflowError,
  type SecretResolver,
  systemClock,
} from "@capflow/core";
import { checkStoredKeys, type StoredKeyFailure } from "@capflow/core/internal";

/**
 * The secret resolver of `capflow serve` and `capflow worker`: `env:` and `file:` references, a
 * relative `file:` one against `--keys-dir`. A reference that does not resolve says so, and that
 * `capflow push` checked it against the definitions folder: `--keys-dir <definitions folder>`.
 */
export function keysDirSecretResolver(keysDir: string): SecretResolver {
  const resolver = createDefaultSecretResolver({ baseDir: keysDir });
  return {
    async resolve(reference, options) {
      try {
        return await resolver.resolve(reference, options);
      } catch (error) {
        if (!isCapflowError(error, "SECRET_NOT_FOUND") || !isRelativeFile(reference)) throw error;
        throw new CapflowError("SECRET_NOT_FOUND", `${error.message}; ${keysDirHint(keysDir)}`, {
          cause: error,
          context: error.context,
        });
      }
    },
  };
}

function isRelativeFile(reference: string): boolean {
  return reference.startsWith("file:") && !isAbsolute(reference.slice("file:".length));
}

function keysDirHint(keysDir: string): string {
  return `relative file: references resolve against --keys-dir (${keysDir}; default: the current folder), while capflow push checked them against the definitions folder: pass --keys-dir <definitions folder>`;
}

/** A channel or client whose keys did not load at start, said for a log line and for `/readyz`. */
export interface KeyFailureAtStart {
  /** `channel lanbank`, `channel lanbank account east`, `client shop`. */
  what: string;
  code: string;
  /** The whole message, with the reference and the file's path: for the log, not for clients. */
  message: string;
}

/**
 * Loads the keys of every stored channel (only `channels`, when given) and, with `clients`, every
 * upstream client, as the first call would. When none of them loads (nothing could work: most
 * often a wrong `--keys-dir`), throws the first failure's code with every failure and the hint.
 * When only some fail, returns them: the process serves the others, and says which do not work.
 */
export async function checkKeysAtStart(
  definitions: DefinitionSource,
  options: {
    cryptoHandlers: CryptoHandlerRegistry;
    keysDir: string;
    clients: boolean;
    channels?: readonly string[];
  },
): Promise<KeyFailureAtStart[]> {
  const report = await checkStoredKeys(definitions, {
    cryptoHandlers: options.cryptoHandlers,
    secrets: createDefaultSecretResolver({ baseDir: options.keysDir }),
    clock: systemClock,
  });
  const mine = (failure: StoredKeyFailure) =>
    failure.kind === "channel"
      ? options.channels === undefined || options.channels.includes(failure.id)
      : options.clients;
  const failures = report.failures.filter(mine);
  const checked =
    (options.channels === undefined ? report.checked.channels : options.channels.length) +
    (options.clients ? report.checked.clients : 0);
  const hint = failures.some((failure) => failure.error.code === "SECRET_NOT_FOUND")
    ? `; ${keysDirHint(options.keysDir)}`
    : "";
  const described = failures.map((failure) => ({
    what: `${failure.kind} ${failure.id}${failure.account === undefined ? "" : ` account ${failure.account}`}`,
    code: failure.error.code,
    message: failure.error.message,
  }));
  if (failures.length > 0 && failures.length >= checked) {
    throw new CapflowError(
      failures[0]!.error.code,
      `the keys of no stored ${options.clients ? "channel or client" : "channel"} load, so nothing could be called or verified: ${described.map((failure) => `${failure.what}: ${failure.message}`).join("; ")}${hint}`,
      { cause: failures[0]!.error },
    );
  }
  return described.map((failure) => ({
    ...failure,
    message: `${failure.message}${failure.code === "SECRET_NOT_FOUND" ? `; ${keysDirHint(options.keysDir)}` : ""}`,
  }));
}
