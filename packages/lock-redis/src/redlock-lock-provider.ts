import { setTimeout as delay } from "node:timers/promises";
import { CapflowError, type Lock, type LockOptions, type LockProvider } from "@capflow/core";
import type { Redis } from "ioredis";
import Redlock, { ExecutionError, type Lock as RedlockLock, ResourceLockedError } from "redlock";
import { translateRedisError } from "./translate-redis-error.ts";

export interface RedlockLockProviderOptions {
  /** One client, or several independent masters for the full Redlock algorithm (quorum). */
  clients: Redis | readonly Redis[];
  /** Prepended to every lock key. Default `capflow:`. */
  keyPrefix?: string;
  /** Pause between tries while waiting for a held lock (jittered ±50 %). Default 50 ms. */
  retryDelayMs?: number;
}

/**
 * Distributed locks with redlock. A held lock is extended every third of its TTL until released;
 * when an extension cannot succeed before the lock expires (Redis unreachable, or the key taken
 * over after an expiry), `lock.signal` is aborted with `LOCK_LOST` so the holder stops before its
 * next partner call.
 *
 * Not a guarantee of mutual exclusion: a process paused longer than the TTL (GC, swap, a stopped
 * VM) cannot notice in time. The store's compare-and-set on the instance version is the safety;
 * this lock only keeps workers from doing the same work twice in the common case.
 */
export class RedlockLockProvider implements LockProvider {
  readonly #redlock: Redlock;
  readonly #prefix: string;
  readonly #retryDelayMs: number;
  readonly #held = new Set<HeldLock>();

  constructor(options: RedlockLockProviderOptions) {
    const clients = Array.isArray(options.clients) ? options.clients : [options.clients];
    // No retries inside redlock: waiting is done here so it honours `waitMs` and the abort signal,
    // and an unreachable Redis fails at once instead of being retried as if the lock were taken.
    this.#redlock = new Redlock(clients as Redis[], { retryCount: 0, driftFactor: 0.01 });
    this.#prefix = options.keyPrefix ?? "capflow:";
    this.#retryDelayMs = options.retryDelayMs ?? 50;
  }

  async acquire(key: string, options: LockOptions): Promise<Lock> {
    const ttlMs = Math.ceil(options.ttlMs);
    if (!(ttlMs >= 30)) {
      throw new CapflowError("CONFIG_INVALID", `lock "${key}": ttlMs must be at least 30 ms`, {
        context: { lock: key },
      });
    }
    const resource = `${this.#prefix}lock:${key}`;
    const waitMs = options.waitMs ?? 0;
    const deadline = Date.now() + waitMs;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        const lock = await this.#redlock.acquire([resource], ttlMs);
        if (lock.expiration > Date.now()) {
          const held = new HeldLock(key, lock, ttlMs, (it) => this.#held.delete(it));
          this.#held.add(held);
          return held;
        }
        // Acquiring took longer than the TTL: the key may be someone else's already. Try again.
        await lock.release().catch(() => {});
      } catch (error) {
        const failure = await classifyRedlockError(error);
        if (failure.kind === "unavailable") {
          throw translateRedisError(failure.cause, "LOCK_UNAVAILABLE", { lock: key });
        }
      }
      const pause = this.#retryDelayMs * (0.5 + Math.random());
      if (Date.now() + pause > deadline) {
        throw new CapflowError(
          "LOCK_NOT_ACQUIRED",
          `lock "${key}" is held by another task and was not released within ${waitMs} ms; try again later`,
          { context: { lock: key } },
        );
      }
      await pauseUnlessAborted(pause, options.signal);
    }
  }

  /** Releases the locks still held (their holders see `LOCK_LOST`); the clients stay open. */
  async close(): Promise<void> {
    await Promise.all([...this.#held].map((held) => held.abandon()));
  }
}

class HeldLock implements Lock {
  readonly key: string;
  readonly #controller = new AbortController();
  readonly #ttlMs: number;
  readonly #onEnd: (lock: HeldLock) => void;
  #lock: RedlockLock;
  #timer: NodeJS.Timeout | undefined;
  /** Fires at the lock's expiry unless an extension moved it: then the lock is lost, told at once. */
  #expiry: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(key: string, lock: RedlockLock, ttlMs: number, onEnd: (lock: HeldLock) => void) {
    this.key = key;
    this.#lock = lock;
    this.#ttlMs = ttlMs;
    this.#onEnd = onEnd;
    this.#schedule(ttlMs / 3);
    this.#watchExpiry();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  async release(): Promise<void> {
    if (this.#ended) return;
    this.#end();
    // Best effort: if Redis cannot be reached the key expires after its TTL, now that nobody
    // extends it. Releasing compares the lock's random value, so it never frees another's lock.
    await this.#lock.release().catch(() => {});
  }

  async abandon(): Promise<void> {
    if (this.#ended) return;
    this.#lost("the lock provider was closed");
    await this.#lock.release().catch(() => {});
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => void this.#extend(), Math.max(1, ms));
    // An extension timer alone must not keep the process alive.
    this.#timer.unref();
  }

  #watchExpiry(): void {
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(
      () => {
        // An extension still on its way (Redis slow or away) may land too late: another task
        // can take the key from this moment, so the holder must stop now.
        if (!this.#ended && this.#lock.expiration <= Date.now()) {
          this.#lost("it expired before an extension reached Redis");
        }
      },
      Math.max(0, this.#lock.expiration - Date.now()),
    );
    this.#expiry.unref();
  }

  async #extend(): Promise<void> {
    if (this.#ended) return;
    try {
      const extended = await this.#lock.extend(this.#ttlMs);
      if (this.#ended) return;
      this.#lock = extended;
      this.#schedule(this.#ttlMs / 3);
      this.#watchExpiry();
    } catch (error) {
      if (this.#ended) return;
      const failure = await classifyRedlockError(error);
      const remaining = this.#lock.expiration - Date.now();
      if (failure.kind === "locked" || remaining <= 0) {
        this.#lost(
          failure.kind === "locked"
            ? "it expired and was taken or removed in the meantime"
            : `it could not be extended before it expired (${describe(failure.cause)})`,
        );
        return;
      }
      // Redis is briefly unreachable: try again, soon enough to extend before the expiry.
      this.#schedule(Math.min(this.#ttlMs / 10, remaining / 2));
    }
  }

  #lost(why: string): void {
    this.#end();
    this.#controller.abort(
      new CapflowError(
        "LOCK_LOST",
        `lock "${this.key}" was lost: ${why}; stop and let the work be retried`,
        {
          context: { lock: this.key },
          retryable: true,
        },
      ),
    );
  }

  #end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#expiry);
    this.#onEnd(this);
  }
}

type RedlockFailure = { kind: "locked" } | { kind: "unavailable"; cause: unknown };

/**
 * Redlock reports "held by someone else" and "could not reach Redis" with the same
 * `ExecutionError`; the votes against it tell them apart. `locked` also covers an extension of a
 * lock that already expired.
 */
async function classifyRedlockError(error: unknown): Promise<RedlockFailure> {
  if (error instanceof ResourceLockedError) return { kind: "locked" };
  if (!(error instanceof ExecutionError)) return { kind: "unavailable", cause: error };
  if (error.attempts.length === 0) return { kind: "locked" };
  const stats = await error.attempts[error.attempts.length - 1]!;
  for (const vote of stats.votesAgainst.values()) {
    if (!(vote instanceof ResourceLockedError)) return { kind: "unavailable", cause: vote };
  }
  return { kind: "locked" };
}

/** Sleeps; an abort rejects with the signal's reason, as `Clock.sleep` does. */
async function pauseUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
