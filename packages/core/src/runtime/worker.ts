import { setMaxListeners } from "node:events";
import type { Engine } from "../engine/engine.ts";
import type { SweepInboxOptions, SweepInboxResult } from "../engine/sweep-inbox.ts";
import { CapflowError } from "../errors.ts";
import { systemClock } from "../memory/system-clock.ts";
import type { OutboxDispatcher } from "../outbox/outbox-dispatcher.ts";
import type { Clock } from "../ports/clock.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";
import type { WakeUp, WakeUpSource, WakeUpSubscription } from "../ports/wake-up-source.ts";

export interface WorkerOptions {
  /**
   * Instances run at once, each in its own slot: the worker claims as soon as a slot frees, so a
   * slow partner call holds its own slot and nothing else. Default `concurrency × batchSize` (32).
   */
  slots?: number;
  /** Instances claimed by one claim query at most. Default 16. */
  batchSize?: number;
  /**
   * Instances claimed ahead of free slots, waiting in the worker for a slot (a local queue): a
   * slot that frees starts the next one at once instead of waiting for a claim's round trip, and
   * claims stay large when steps are short. A waiting instance is leased like a running one; one
   * that waited half its lease is given back instead of run, and a stop gives all of them back.
   * Default `batchSize`; 0 claims only for free slots.
   */
  prefetch?: number;
  /** With `batchSize`, sets the default number of slots (`concurrency × batchSize`). Default 2. */
  concurrency?: number;
  /**
   * Runs past their slot whose last commit is in flight (their slot went to the next instance):
   * beyond this many, a run keeps its slot until its commit returns. Bounds the instances a
   * worker holds while the database is slow. Default `4 × slots`: room for the commits of
   * several claims' worth of short steps, which the store sends together (group commit).
   */
  commitsInFlight?: number;
  /**
   * Wait after a claim that found fewer due instances than it asked for, unless woken earlier
   * (`wake()`, or a wake-up source). Default 200 ms.
   */
  idleMs?: number;
  /** Only these channels (a worker dedicated to some funders). */
  channels?: string[];
  /**
   * Notices of instances coming due (the PostgreSQL store's `db.wakeUps`): the worker claims at
   * once on a start, a stored callback or a retry coming due, instead of at its next poll.
   * Polling every `idleMs` stays the fallback.
   */
  wakeUps?: WakeUpSource;
  /** Each notice the worker acts on (not those for other channels), e.g. for metrics. */
  onWakeUp?: (wakeUp: WakeUp) => void;
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
  /**
   * Delivers notifications for the upstream alongside the steps: started and stopped with the
   * worker; a graceful stop delivers what is due before it ends (up to 10 s).
   */
  outbox?: OutboxDispatcher;
}

/**
 * Runs due instances until stopped, each in its own slot: it claims as many due instances as it has
 * free slots (at most `batchSize` per query), starts each at once, and claims again as soon as a
 * slot frees, so one slow partner call never holds the others (the channel's bulkhead is what
 * isolates one funder from another). When fewer are due than it asked for, it waits `idleMs` or
 * until woken (`wake()`), whichever comes first.
 *
 * `stop()` stops claiming and lets the steps in flight finish and commit (a step is never
 * abandoned between its partner call and its commit by a graceful stop); a chain of steps ends
 * after its current step and its instance goes back to the queue at once.
 */
export class Worker {
  readonly #engine: Engine;
  readonly #options: Required<
    Omit<
      WorkerOptions,
      | "channels"
      | "onError"
      | "inboxSweep"
      | "onInboxSwept"
      | "concurrency"
      | "outbox"
      | "wakeUps"
      | "onWakeUp"
    >
  > &
    Pick<
      WorkerOptions,
      "channels" | "onError" | "inboxSweep" | "onInboxSwept" | "outbox" | "wakeUps" | "onWakeUp"
    >;
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #running = new Set<Promise<void>>();
  /**
   * Runs whose last commit is in flight: their slot went to other work (a slot bounds steps and
   * partner calls, and waiting for PostgreSQL's flush is neither). At most `commitsInFlight` of
   * them, so the instances this worker holds stay bounded.
   */
  #committing = new Set<Promise<void>>();
  /** Aborted by `wake()` to end the current idle wait. */
  #idle = new AbortController();
  /** A wake-up arrived while the loop was claiming: its next idle wait is skipped. */
  #woken = false;
  /** Claimed instances waiting for a slot, oldest claim first. */
  #queue: QueuedClaim[] = [];
  /**
   * Claims being given back: the next claim waits for them, so a give-back that lands after a
   * fresh claim of the same instance cannot clear that claim's lease (both are this worker's).
   */
  #givingBack = new Set<Promise<void>>();
  /** Ends the claim loop's wait for a free slot. */
  #onSlotFree: () => void = () => {};
  /**
   * Set when an instance's lock was held elsewhere: its claim went back to the queue, and
   * claiming again at once would take it again.
   */
  #lockMissed = false;
  /** Claims in a row that found nothing due while nothing ran here (see `idleClaims`). */
  #emptyClaims = 0;

  constructor(engine: Engine, options: WorkerOptions = {}) {
    this.#engine = engine;
    const batchSize = options.batchSize ?? 16;
    const slots = options.slots ?? (options.concurrency ?? 2) * batchSize;
    const commitsInFlight = options.commitsInFlight ?? 4 * slots;
    // A bound that compares false with everything (NaN) would be no bound at all.
    if (!Number.isInteger(commitsInFlight) || commitsInFlight < 0) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `commitsInFlight must be a whole number of 0 or more, not ${String(commitsInFlight)}`,
      );
    }
    this.#options = {
      slots,
      commitsInFlight,
      batchSize,
      prefetch: options.prefetch ?? batchSize,
      idleMs: options.idleMs ?? 200,
      clock: options.clock ?? systemClock,
      inboxSweepMs: options.inboxSweepMs ?? 60_000,
      ...(options.channels ? { channels: options.channels } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
      ...(options.inboxSweep ? { inboxSweep: options.inboxSweep } : {}),
      ...(options.onInboxSwept ? { onInboxSwept: options.onInboxSwept } : {}),
      ...(options.outbox ? { outbox: options.outbox } : {}),
      ...(options.wakeUps ? { wakeUps: options.wakeUps } : {}),
      ...(options.onWakeUp ? { onWakeUp: options.onWakeUp } : {}),
    };
  }

  get running(): boolean {
    return this.#loops.length > 0;
  }

  /** Slots running an instance now. */
  get busySlots(): number {
    return this.#running.size;
  }

  /** Instances this worker runs now: in a slot, or past their slot, their last commit in flight. */
  get inFlight(): number {
    return this.#running.size + this.#committing.size;
  }

  /**
   * How many claims in a row found nothing due for this worker (its channels) while it ran and
   * held nothing; 0 while it has work. A batch run stops once this reaches 2: the claim itself
   * is the question "is anything due for me?", asked of the due index, so it costs nothing
   * however many instances wait, and it sees exactly what this worker may run.
   */
  get idleClaims(): number {
    return this.inFlight + this.#queue.length === 0 ? this.#emptyClaims : 0;
  }

  start(): this {
    if (this.running) return this;
    this.#abort = new AbortController();
    this.#loops.push(this.#claimLoop(this.#abort.signal));
    this.#loops.push(this.#staleLoop(this.#abort.signal));
    if (this.#options.wakeUps)
      this.#loops.push(this.#listen(this.#options.wakeUps, this.#abort.signal));
    if (this.#options.inboxSweepMs > 0) this.#loops.push(this.#sweepLoop(this.#abort.signal));
    this.#options.outbox?.start();
    return this;
  }

  /**
   * Something may be due (an instance started, a callback stored, a retry coming due): claim now
   * instead of at the end of the idle wait. Cheap; extra calls cost at most one empty claim.
   */
  wake(): void {
    this.#woken = true;
    this.#idle.abort();
  }

  /**
   * Stops claiming; resolves when the steps in flight have committed. A chain of steps ends after
   * its current step, and its instance goes back to the queue at once (its lease released).
   */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
    this.#loops = [];
    // The last steps' notifications go out before the process ends, if the receiver is there.
    const { outbox } = this.#options;
    if (outbox) {
      await outbox.stop();
      await outbox.flush().catch((error: unknown) => report(this.#options.onError, error));
    }
  }

  async #claimLoop(signal: AbortSignal): Promise<void> {
    const { slots, batchSize, prefetch, channels, onError, clock } = this.#options;
    const running = this.#running;
    const queue = this.#queue;
    while (!signal.aborted) {
      this.#giveBackStale();
      // Free slots plus room in the local queue: claimed while the running steps go on.
      const wanted = Math.min(batchSize, slots + prefetch - running.size - queue.length);
      // While instances are still queued, claim once half the queue is used: a claim costs a
      // round trip however few it takes.
      const worthClaiming = queue.length === 0 ? 1 : Math.ceil(Math.min(batchSize, prefetch) / 2);
      if (wanted < Math.max(1, worthClaiming)) {
        await this.#slotFree(signal);
        continue;
      }
      if (this.#lockMissed) {
        this.#lockMissed = false;
        await this.#waitIdle(signal);
        continue;
      }
      this.#woken = false;
      let claimed: InstanceRecord[];
      try {
        await Promise.all(this.#givingBack);
        claimed = await this.#engine.claimDue({ limit: wanted, ...(channels ? { channels } : {}) });
      } catch (error) {
        this.#emptyClaims = 0;
        report(onError, error);
        await this.#waitIdle(signal);
        continue;
      }
      const nothingHere = claimed.length === 0 && this.inFlight + queue.length === 0;
      this.#emptyClaims = nothingHere ? this.#emptyClaims + 1 : 0;
      const claimedAt = clock.now();
      // None of them is queued already: a queued claim is given back (and that awaited) before
      // its lease could run out and let a claim take the instance again.
      for (const record of claimed) queue.push({ record, claimedAt });
      this.#startQueued(signal);
      if (claimed.length < wanted) await this.#waitIdle(signal);
    }
    await Promise.all([...running, ...this.#committing]);
    // Claimed but never started: back to the queue at once, not after their lease.
    await Promise.all(queue.splice(0).map(({ record }) => this.#giveBack(record)));
  }

  /** Starts queued instances in the free slots; one that waited half its lease goes back. */
  #startQueued(signal: AbortSignal): void {
    const { slots, commitsInFlight } = this.#options;
    const running = this.#running;
    const queue = this.#queue;
    while (!signal.aborted && running.size < slots) {
      this.#giveBackStale();
      const next = queue.shift();
      if (next === undefined) return;
      const { record } = next;
      const committing = this.#committing;
      let inSlot = true;
      // The run's last commit has begun: its slot goes to the next instance now, unless
      // `commitsInFlight` runs already wait on their commits.
      const leaveSlot = () => {
        if (!inSlot || committing.size >= commitsInFlight) return false;
        inSlot = false;
        running.delete(run);
        committing.add(run);
        this.#startQueued(signal);
        this.#onSlotFree();
        return true;
      };
      const run: Promise<void> = this.#engine
        .runClaimed(record, signal, { committing: leaveSlot })
        .then(
          (ran) => {
            if (!ran) this.#lockMissed = true;
          },
          (error: unknown) => report(this.#options.onError, error),
        )
        .finally(() => {
          inSlot = false;
          running.delete(run);
          committing.delete(run);
          this.#startQueued(signal);
          this.#onSlotFree();
        });
      running.add(run);
    }
  }

  /**
   * Gives back the queued claims that waited half their lease: one could run out mid-step and let
   * another worker take it, and waiting here holds it from workers with free slots.
   */
  #giveBackStale(): void {
    const now = this.#options.clock.now();
    const queue = this.#queue;
    while (queue[0] !== undefined && now >= staleAt(queue[0])) {
      void this.#giveBack(queue.shift()!.record);
    }
  }

  #giveBack(record: InstanceRecord): Promise<void> {
    const givingBack = this.#engine
      .releaseClaim(record)
      .catch((error: unknown) => report(this.#options.onError, error))
      .finally(() => this.#givingBack.delete(givingBack));
    this.#givingBack.add(givingBack);
    return givingBack;
  }

  /** Resolves when a running instance ends (its slot frees) or the worker stops. */
  async #slotFree(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        this.#onSlotFree = () => {};
        resolve();
      };
      this.#onSlotFree = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /**
   * While every slot stays busy the claim loop neither claims nor starts anything, so it would not
   * see a queued claim pass half its lease: this looks at the oldest one when it is due, gives
   * back what is stale and lets the claim loop claim in its place. One timer that runs out on its
   * own: a timer cancelled on every freed slot cost an AbortError each, a tenth of a step's CPU.
   */
  async #staleLoop(signal: AbortSignal): Promise<void> {
    const { clock } = this.#options;
    while (!signal.aborted) {
      const oldest = this.#queue[0];
      const wait = oldest === undefined ? 1_000 : Math.max(50, staleAt(oldest) - clock.now());
      await clock.sleep(wait, signal).catch(() => {});
      const head = this.#queue[0];
      if (signal.aborted || head === undefined || clock.now() < staleAt(head)) continue;
      this.#giveBackStale();
      this.#onSlotFree();
    }
  }

  /** Waits `idleMs`, or less when woken or stopped. */
  async #waitIdle(signal: AbortSignal): Promise<void> {
    if (this.#woken || signal.aborted) {
      this.#woken = false;
      return;
    }
    const idle = new AbortController();
    this.#idle = idle;
    const onStop = () => idle.abort();
    signal.addEventListener("abort", onStop, { once: true });
    try {
      await this.#options.clock.sleep(this.#options.idleMs, idle.signal).catch(() => {});
    } finally {
      signal.removeEventListener("abort", onStop);
    }
    this.#woken = false;
  }

  /** Listens for due notices until stopped; a source that cannot listen yet is asked again. */
  async #listen(source: WakeUpSource, signal: AbortSignal): Promise<void> {
    const { channels, clock, idleMs, onError, onWakeUp } = this.#options;
    const pendingTimes = new Set<number>();
    // One listener on the worker's signal for all timed wake-ups, however many are pending.
    const timers = new AbortController();
    setMaxListeners(maxPendingWakeUps + 8, timers.signal);
    signal.addEventListener("abort", () => timers.abort(), { once: true });
    const onNotice = (wakeUp: WakeUp) => {
      if (signal.aborted) return;
      if (wakeUp.channel !== undefined && channels && !channels.includes(wakeUp.channel)) return;
      try {
        onWakeUp?.(wakeUp);
      } catch {
        // A listener's failure must not cost the wake-up.
      }
      const delay = wakeUp.at === undefined ? 0 : wakeUp.at - clock.now();
      if (delay <= 0) {
        this.wake();
        return;
      }
      // A retry due in a few seconds: wake then, once per due time (to the 10 ms).
      const slot = Math.ceil((wakeUp.at ?? 0) / 10);
      if (pendingTimes.has(slot) || pendingTimes.size >= maxPendingWakeUps) return;
      pendingTimes.add(slot);
      void clock.sleep(delay, timers.signal).then(
        () => {
          pendingTimes.delete(slot);
          this.wake();
        },
        () => pendingTimes.delete(slot),
      );
    };
    let subscription: WakeUpSubscription | undefined;
    while (!signal.aborted && !subscription) {
      try {
        subscription = await source.listen(onNotice);
      } catch (error) {
        report(onError, error);
        await clock.sleep(Math.max(idleMs, 1_000), signal).catch(() => {});
      }
    }
    if (!subscription) return;
    // Whatever came due before the subscription started.
    this.wake();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await subscription.close().catch((error: unknown) => report(onError, error));
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

/** Retries due within seconds that a worker keeps a timer for; later ones wait for polling. */
const maxPendingWakeUps = 256;

/** Hands an error to the host's handler; a handler that throws must not end the loop. */
function report(onError: ((error: unknown) => void) | undefined, error: unknown): void {
  try {
    onError?.(error);
  } catch {
    // The loop goes on: it is the only thing still claiming work.
  }
}

/** A claimed instance waiting in the worker for a slot. */
interface QueuedClaim {
  record: InstanceRecord;
  claimedAt: number;
}

/** When a queued claim has waited half its lease: from then on it is given back, not run. */
function staleAt({ record, claimedAt }: QueuedClaim): number {
  const leaseUntil = record.leaseUntil ?? Number.POSITIVE_INFINITY;
  return claimedAt + (leaseUntil - claimedAt) / 2;
}
