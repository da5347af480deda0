import type { Engine } from "../engine/engine.ts";
import type { SweepInboxOptions, SweepInboxResult } from "../engine/sweep-inbox.ts";
import { systemClock } from "../memory/system-clock.ts";
import type { Clock } from "../ports/clock.ts";

export interface WorkerOptions {
  /** Instances claimed per round. Default 16. */
  batchSize?: number;
  /** Rounds running at once (each a batch). Default 2. */
  concurrency?: number;
  /** Wait after a round that found nothing due. Default 200 ms. */
  idleMs?: number;
  /** Only these channels (a worker dedicated to some funders). */
  channels?: string[];
  clock?: Clock;
  /** Errors a round could not handle (e.g. the store is down); the loop goes on after `idleMs`. */
  onError?: (error: unknown) => void;
  /**
   * How often to sweep the inbox for notifications that came after their instance settled
   * (`engine.sweepInbox`). Default 60 s; 0 turns it off (another process sweeps).
   */
  inboxSweepMs?: number;
  inboxSweep?: SweepInboxOptions;
  /** Each sweep's counts, e.g. to log or to export as metrics. */
  onInboxSwept?: (result: SweepInboxResult) => void;
}

/**
 * Runs `engine.runDue` in a loop until stopped. `stop()` lets the steps in flight finish and
 * commit (a step is never abandoned between its partner call and its commit by a graceful stop);
 * claimed instances not yet started keep their lease only until it expires, then any worker
 * resumes them.
 */
export class Worker {
  readonly #engine: Engine;
  readonly #options: Required<
    Omit<WorkerOptions, "channels" | "onError" | "inboxSweep" | "onInboxSwept">
  > &
    Pick<WorkerOptions, "channels" | "onError" | "inboxSweep" | "onInboxSwept">;
  #abort = new AbortController();
  #loops: Promise<void>[] = [];

  constructor(engine: Engine, options: WorkerOptions = {}) {
    this.#engine = engine;
    this.#options = {
      batchSize: options.batchSize ?? 16,
      concurrency: options.concurrency ?? 2,
      idleMs: options.idleMs ?? 200,
      clock: options.clock ?? systemClock,
      inboxSweepMs: options.inboxSweepMs ?? 60_000,
      ...(options.channels ? { channels: options.channels } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
      ...(options.inboxSweep ? { inboxSweep: options.inboxSweep } : {}),
      ...(options.onInboxSwept ? { onInboxSwept: options.onInboxSwept } : {}),
    };
  }

  get running(): boolean {
    return this.#loops.length > 0;
  }

  start(): this {
    if (this.running) return this;
    this.#abort = new AbortController();
    for (let i = 0; i < this.#options.concurrency; i++)
      this.#loops.push(this.#loop(this.#abort.signal));
    if (this.#options.inboxSweepMs > 0) this.#loops.push(this.#sweepLoop(this.#abort.signal));
    return this;
  }

  /**
   * Stops claiming; resolves when the steps in flight have committed. A chain of steps ends after
   * its current step, and its instance goes back to the queue at once (its lease released).
   */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const { batchSize, idleMs, clock, channels, onError } = this.#options;
    while (!signal.aborted) {
      let claimed = 0;
      try {
        claimed = await this.#engine.runDue({
          limit: batchSize,
          ...(channels ? { channels } : {}),
          // Stopping ends a chain after its current step instead of running it to the end.
          signal,
        });
      } catch (error) {
        report(onError, error);
      }
      if (claimed === 0 && !signal.aborted) {
        await clock.sleep(idleMs, signal).catch(() => {});
      }
    }
  }

  async #sweepLoop(signal: AbortSignal): Promise<void> {
    const { inboxSweepMs, inboxSweep, clock, onError, onInboxSwept } = this.#options;
    while (!signal.aborted) {
      await clock.sleep(inboxSweepMs, signal).catch(() => {});
      if (signal.aborted) return;
      try {
        onInboxSwept?.(await this.#engine.sweepInbox(inboxSweep));
      } catch (error) {
        report(onError, error);
      }
    }
  }
}

/** Hands an error to the host's handler; a handler that throws must not end the loop. */
function report(onError: ((error: unknown) => void) | undefined, error: unknown): void {
  try {
    onError?.(error);
  } catch {
    // The loop goes on: it is the only thing still claiming work.
  }
}
