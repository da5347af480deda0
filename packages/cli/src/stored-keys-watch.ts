import type { DefinitionSource } from "@capflow/core";
import { findKeyFailures, type KeyFailure, type KeysCheckOptions } from "./stored-keys-check.ts";

export interface StoredKeysWatchOptions extends KeysCheckOptions {
  /** How often the definitions' revision is read (one small query) and keys may be loaded. */
  intervalMs: number;
  /** The definitions' revision read before `failures` were found. */
  revision: string;
  /** What the check at start found. */
  failures: readonly KeyFailure[];
  /** Channels and clients whose keys stopped loading, and those (by `what`) that load again. */
  onChange: (change: { failing: KeyFailure[]; loading: string[] }) => void;
  /** A round that could not run (the database away): the last failures stay. */
  onError: (error: unknown) => void;
}

/**
 * Keeps the list of channels and clients whose keys do not load current while the process runs,
 * as the engine sees them: after a push (the definitions' revision moved) every key is loaded
 * again, and while some fail those are retried each round, so a key file put right shows without
 * a restart. Keys that load are not loaded again until the definitions change, as the engine keeps
 * a channel's loaded keys until then. Nothing runs per request: `/readyz` reads {@link failures}.
 */
export class StoredKeysWatch {
  readonly #definitions: DefinitionSource;
  readonly #options: StoredKeysWatchOptions;
  #revision: string;
  #failures: readonly KeyFailure[];
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;

  constructor(definitions: DefinitionSource, options: StoredKeysWatchOptions) {
    this.#definitions = definitions;
    this.#options = options;
    this.#revision = options.revision;
    this.#failures = options.failures;
  }

  /** The channels and clients whose keys did not load at the last check. */
  failures(): readonly KeyFailure[] {
    return this.#failures;
  }

  start(): void {
    this.#schedule();
  }

  /** Stops the rounds, waiting for one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }

  /** One round now (what the timer runs): re-checks when the definitions changed or some fail. */
  async checkNow(): Promise<void> {
    const revision = await this.#definitions.revision();
    const changed = revision !== this.#revision;
    if (!changed && this.#failures.length === 0) return;
    const failing = new Set(this.#failures.map((failure) => `${failure.kind} ${failure.id}`));
    const { failures } = await findKeyFailures(
      this.#definitions,
      this.#options,
      changed ? undefined : (kind, id) => failing.has(`${kind} ${id}`),
    );
    // Unchanged definitions: those not retried still load, as before.
    const before = new Map(this.#failures.map((failure) => [failure.what, failure]));
    const after = new Map(failures.map((failure) => [failure.what, failure]));
    this.#revision = revision;
    this.#failures = failures;
    const newlyFailing = failures.filter(
      (failure) => before.get(failure.what)?.code !== failure.code,
    );
    const loading = [...before.keys()].filter((what) => !after.has(what));
    if (newlyFailing.length > 0 || loading.length > 0) {
      this.#options.onChange({ failing: newlyFailing, loading });
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.checkNow()
        .catch((error: unknown) => this.#options.onError(error))
        .finally(() => {
          this.#round = undefined;
          this.#schedule();
        });
    }, this.#options.intervalMs);
    this.#timer.unref();
  }
}
