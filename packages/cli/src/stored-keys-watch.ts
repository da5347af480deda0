import type { DefinitionSource } from "@capflow/core";
import { isRetiredClient } from "@capflow/core/internal";
import {
  checkKeysAtStart,
  findKeyFailures,
  type KeyFailure,
  type KeysCheckOptions,
} from "./stored-keys-check.ts";

/** Where a watch says what it finds: `capflow serve` logs it, `capflow worker` prints it. */
export interface StoredKeysReport {
  /** A channel or client whose keys do not load: at start, and each time one starts failing. */
  failing: (failure: KeyFailure) => void;
  /** A line about one that failed before: its keys load again, or it is no longer stored. */
  note: (what: string, message: string) => void;
  /** A round that could not run (the database away): the last failures stay. */
  error: (error: unknown) => void;
}

/**
 * Runs the reads of one round (not the check at start) with the definitions to read from: on
 * PostgreSQL, {@link lockBoundedRounds} bounds how long a round may wait for a lock, and so how
 * long closing the database waits for it at shutdown.
 */
export type StoredKeysRounds = <T>(
  read: (definitions: DefinitionSource) => Promise<T>,
) => Promise<T>;

export interface StoredKeysWatchOptions extends KeysCheckOptions {
  /** How often the definitions' revision is read (one small query) and keys may be loaded. */
  intervalMs: number;
  report: StoredKeysReport;
  /**
   * How long `stop()` waits for a round in progress. A round blocked on the database (away, or
   * a lock) takes until the database gives up; shutdown must not.
   */
  stopWaitMs?: number;
  /** How each round reads. Default: from the definitions the watch was opened with. */
  rounds?: StoredKeysRounds;
}

/** Enough for a round on a database that answers; short beside a supervisor's kill timeout. */
const defaultStopWaitMs = 1_000;

/**
 * Keeps the list of channels and clients whose keys do not load current while `capflow serve` or
 * `capflow worker` runs, as the engine sees them: after a push (the definitions' revision moved)
 * every key is loaded again, and while some fail those are retried each round, so a key file put
 * right shows without a restart. Keys that load are not loaded again until the definitions change,
 * as the engine keeps a channel's loaded keys until then. Nothing runs per request: `/readyz`
 * reads {@link failures}.
 */
export class StoredKeysWatch {
  readonly #definitions: DefinitionSource;
  readonly #options: StoredKeysWatchOptions;
  #revision: string;
  #failures: readonly KeyFailure[];
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  /**
   * Checks the stored keys as the process starts ({@link checkKeysAtStart}: throws when none
   * loads) and returns the watch, not yet started.
   */
  static async open(
    definitions: DefinitionSource,
    options: StoredKeysWatchOptions,
  ): Promise<StoredKeysWatch> {
    const revision = await definitions.revision();
    const failures = await checkKeysAtStart(definitions, options);
    return new StoredKeysWatch(definitions, options, revision, failures);
  }

  /** `revision`: read before `failures` were found. */
  constructor(
    definitions: DefinitionSource,
    options: StoredKeysWatchOptions,
    revision: string,
    failures: readonly KeyFailure[],
  ) {
    this.#definitions = definitions;
    this.#options = options;
    this.#revision = revision;
    this.#failures = failures;
  }

  /** The channels and clients whose keys did not load at the last check. */
  failures(): readonly KeyFailure[] {
    return this.#failures;
  }

  /** Says which keys failed at start, then checks again every `intervalMs`. */
  start(): void {
    for (const failure of this.#failures) this.#options.report.failing(failure);
    this.#schedule();
  }

  /**
   * Stops the rounds. A round in progress is waited for at most `stopWaitMs`; one still running
   * then is left to end on its own, and says nothing. Calling it again waits for the same stop,
   * not for another `stopWaitMs`.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const round = this.#round;
    if (round === undefined) return;
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      round,
      new Promise<void>((resolve) => {
        bound = setTimeout(resolve, this.#options.stopWaitMs ?? defaultStopWaitMs);
      }),
    ]);
    clearTimeout(bound);
  }

  /** One round now (what the timer runs): re-checks when the definitions changed or some fail. */
  async checkNow(): Promise<void> {
    const rounds: StoredKeysRounds = this.#options.rounds ?? ((read) => read(this.#definitions));
    const found = await rounds((definitions) => this.#check(definitions));
    if (found === undefined || this.#stopped) return;
    const { revision, failures, before, notes } = found;
    this.#revision = revision;
    this.#failures = failures;
    for (const failure of failures) {
      if (before.get(failure.what)?.code !== failure.code) this.#options.report.failing(failure);
    }
    for (const [what, message] of notes) this.#options.report.note(what, `${what}: ${message}`);
  }

  /** What a round finds, nothing when the definitions are unchanged and none failed. */
  async #check(definitions: DefinitionSource) {
    const revision = await definitions.revision();
    const changed = revision !== this.#revision;
    if (!changed && this.#failures.length === 0) return undefined;
    const failing = new Set(this.#failures.map((failure) => `${failure.kind} ${failure.id}`));
    const { failures } = await findKeyFailures(
      definitions,
      this.#options,
      changed ? undefined : (kind, id) => failing.has(`${kind} ${id}`),
    );
    // Unchanged definitions: those not retried still load, as before.
    const before = new Map(this.#failures.map((failure) => [failure.what, failure]));
    const after = new Set(failures.map((failure) => failure.what));
    const notes: [string, string][] = [];
    for (const [what, failure] of before) {
      if (after.has(what)) continue;
      // Only a push (the revision moved) takes a channel, an account or a client away.
      notes.push([
        what,
        changed ? await this.#noLongerFailing(definitions, failure) : "its keys load again",
      ]);
    }
    return { revision, failures, before, notes };
  }

  /** Why a failing channel, account or client fails no more: its keys load, or it is gone. */
  async #noLongerFailing(definitions: DefinitionSource, failure: KeyFailure): Promise<string> {
    const removed = "removed from the stored definitions, so its keys are no longer loaded";
    if (failure.kind === "client") {
      const client = await definitions.getClient(failure.id);
      if (client === undefined) return removed;
      if (isRetiredClient(client.definition)) {
        return "retired (it allows nothing), so its key is no longer loaded";
      }
      return "its keys load again";
    }
    const channel = await definitions.getChannel(failure.id);
    if (channel === undefined) return removed;
    if (
      failure.account !== undefined &&
      channel.definition.accounts?.[failure.account] === undefined
    ) {
      return removed;
    }
    return "its keys load again";
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.checkNow()
        .catch((error: unknown) => {
          if (!this.#stopped) this.#options.report.error(error);
        })
        .finally(() => {
          this.#round = undefined;
          this.#schedule();
        });
    }, this.#options.intervalMs);
    this.#timer.unref();
  }
}
