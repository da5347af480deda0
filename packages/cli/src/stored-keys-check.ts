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
import { checkStoredKeys } from "@capflow/core/internal";

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

/** A channel or client whose keys do not load, said for a log line and for `/readyz`. */
export interface KeyFailure {
  kind: "channel" | "client";
  /** The channel's code or the client's id. */
  id: string;
  /** The channel's account whose own keys do not load. */
  account?: string;
  /** `channel lanbank`, `channel lanbank account east`, `client shop`. */
  what: string;
  code: string;
  /** The whole message, with the reference and the file's path: for the log, not for clients. */
  message: string;
  /** The error as the load threw it. */
  error: CapflowError;
}

/** Which stored keys a process loads: its channels (all, or these) and, with `clients`, clients'. */
export interface KeysCheckOptions {
  cryptoHandlers: CryptoHandlerRegistry;
  keysDir: string;
  clients: boolean;
  channels?: readonly string[];
}

/** What {@link findKeyFailures} found, and how many channels and clients it looked at. */
export interface KeysCheck {
  failures: KeyFailure[];
  checked: number;
}

/**
 * Loads the keys of every stored channel (only `channels`, when given) and, with `clients`, every
 * upstream client, as the first call would; `only` narrows it further (those failing last time).
 */
export async function findKeyFailures(
  definitions: DefinitionSource,
  options: KeysCheckOptions,
  only?: (kind: "channel" | "client", id: string) => boolean,
): Promise<KeysCheck> {
  const mine = (kind: "channel" | "client", id: string) =>
    (kind === "channel"
      ? options.channels === undefined || options.channels.includes(id)
      : options.clients) &&
    (only?.(kind, id) ?? true);
  const report = await checkStoredKeys(definitions, {
    cryptoHandlers: options.cryptoHandlers,
    secrets: createDefaultSecretResolver({ baseDir: options.keysDir }),
    clock: systemClock,
    select: mine,
  });
  const checked =
    (options.channels === undefined || only !== undefined
      ? report.checked.channels
      : options.channels.length) + report.checked.clients;
  const failures = report.failures.map((failure) => ({
    kind: failure.kind,
    id: failure.id,
    ...(failure.account === undefined ? {} : { account: failure.account }),
    what: `${failure.kind} ${failure.id}${failure.account === undefined ? "" : ` account ${failure.account}`}`,
    code: failure.error.code,
    message: `${failure.error.message}${failure.error.code === "SECRET_NOT_FOUND" ? `; ${keysDirHint(options.keysDir)}` : ""}`,
    error: failure.error,
  }));
  return { failures, checked };
}

/**
 * The check a process runs as it starts ({@link findKeyFailures}). When none of the keys loads
 * (nothing could work: most often a wrong `--keys-dir`), throws the first failure's code with
 * every failure and the hint. When only some fail, returns them: the process serves the others,
 * and says which do not work.
 */
export async function checkKeysAtStart(
  definitions: DefinitionSource,
  options: KeysCheckOptions,
): Promise<KeyFailure[]> {
  const { failures, checked } = await findKeyFailures(definitions, options);
  if (failures.length > 0 && failures.length >= checked) {
    const hint = failures.some((failure) => failure.code === "SECRET_NOT_FOUND")
      ? `; ${keysDirHint(options.keysDir)}`
      : "";
    const first = failures[0]!.error;
    throw new CapflowError(
      first.code,
      `the keys of no stored ${options.clients ? "channel or client" : "channel"} load, so nothing could be called or verified: ${failures.map((failure) => `${failure.what}: ${failure.error.message}`).join("; ")}${hint}`,
      { cause: first },
    );
  }
  return failures;
}
