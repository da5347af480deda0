/**
 * Group commit: instances' commits that arrive while earlier commit statements are still on their
 * way to the database wait for one of them to come back, then go together as one statement (one
 * round trip, one transaction, one WAL flush instead of one each). A commit that arrives when
 * fewer than `statements` are in flight goes at the end of the current turn of the event loop
 * (`setImmediate`), with the commits that arrived in the same turn: steps that finish together
 * (a claim's batch, a wave of answers) commit together, and an idle store adds no timer wait.
 *
 * Hand-written: the queueing is a few lines, and what matters is the store's rule for a batch:
 * every instance keeps its own compare-and-set, and an instance appears at most once per batch
 * (a statement cannot update one row twice); a second commit of the same instance waits for the
 * next batch.
 */
export interface GroupCommitOptions {
  /** Commit statements in flight at once; more commits wait and go together. Default 2. */
  statements?: number;
  /** Commits in one statement at most. Default 32. */
  maxBatch?: number;
}

interface Waiting<T, R> {
  key: string;
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  readonly #statements: number;
  readonly #maxBatch: number;
  readonly #run: (items: readonly T[]) => Promise<readonly PromiseSettledResult<R>[]>;
  #queue: Waiting<T, R>[] = [];
  #inFlight = 0;

  /**
   * `run` commits a batch (one item alone, or several distinct keys together) and settles each
   * item on its own: one item's conflict or failure is not another's.
   */
  constructor(
    run: (items: readonly T[]) => Promise<readonly PromiseSettledResult<R>[]>,
    options: GroupCommitOptions = {},
  ) {
    this.#run = run;
    this.#statements = Math.max(1, options.statements ?? 2);
    this.#maxBatch = Math.max(1, options.maxBatch ?? 32);
  }

  /** Commits `item` (whose instance is `key`) with whatever else is waiting. */
  submit(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ key, item, resolve, reject });
      this.#pump();
    });
  }

  /** A send is scheduled for the end of this turn of the event loop. */
  #scheduled = false;

  #pump(): void {
    if (this.#scheduled || this.#inFlight >= this.#statements) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#sendWaiting();
    });
  }

  #sendWaiting(): void {
    while (this.#inFlight < this.#statements && this.#queue.length > 0) {
      const batch: Waiting<T, R>[] = [];
      const rest: Waiting<T, R>[] = [];
      const keys = new Set<string>();
      for (const waiting of this.#queue) {
        if (batch.length < this.#maxBatch && !keys.has(waiting.key)) {
          keys.add(waiting.key);
          batch.push(waiting);
        } else {
          rest.push(waiting);
        }
      }
      this.#queue = rest;
      this.#inFlight++;
      void this.#send(batch);
    }
  }

  async #send(batch: readonly Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.#run(batch.map((waiting) => waiting.item));
      for (const [i, waiting] of batch.entries()) {
        const result = results[i];
        if (result?.status === "fulfilled") waiting.resolve(result.value);
        else waiting.reject(result?.reason ?? new Error("group commit returned no result"));
      }
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      this.#inFlight--;
      this.#pump();
    }
  }
}
