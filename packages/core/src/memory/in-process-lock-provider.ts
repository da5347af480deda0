import { CapflowError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { Lock, LockOptions, LockProvider } from "../ports/lock-provider.ts";
import { systemClock } from "./system-clock.ts";

/** Locks within one process: enough for a single node; use @capflow/lock-redis for several. */
export class InProcessLockProvider implements LockProvider {
  readonly #held = new Set<string>();
  readonly #clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async acquire(key: string, options: LockOptions): Promise<Lock> {
    const deadline = this.#clock.now() + (options.waitMs ?? 0);
    while (this.#held.has(key)) {
      if (this.#clock.now() >= deadline) {
        throw new CapflowError(
          "LOCK_NOT_ACQUIRED",
          `lock "${key}" is held by another task; try again later`,
          { context: { lock: key } },
        );
      }
      await this.#clock.sleep(
        Math.min(10, Math.max(1, deadline - this.#clock.now())),
        options.signal,
      );
    }
    this.#held.add(key);
    let released = false;
    // In one process a holder cannot vanish without releasing (the process would be gone too), so
    // the lock never expires and its signal never fires; the TTL matters for distributed locks.
    return {
      key,
      // One signal per lock: a shared one would collect every in-flight request's abort listener.
      signal: new AbortController().signal,
      release: async () => {
        if (released) return;
        released = true;
        this.#held.delete(key);
      },
    };
  }

  async close(): Promise<void> {
    this.#held.clear();
  }
}
