import type { Clock } from "../ports/clock.ts";

/**
 * A clock that moves only when told to, so schedules, deadlines and leases are tested without
 * sleeping. `advance` resolves the sleeps that fall due, in time order.
 */
export class ManualClock implements Clock {
  #now: number;
  readonly #sleepers: { at: number; resolve: () => void }[] = [];

  constructor(start = Date.UTC(2026, 0, 5, 2, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const abort = () => {
        const index = this.#sleepers.indexOf(sleeper);
        if (index >= 0) this.#sleepers.splice(index, 1);
        reject(signal?.reason);
      };
      const sleeper = {
        at: this.#now + ms,
        resolve: () => {
          signal?.removeEventListener("abort", abort);
          resolve();
        },
      };
      this.#sleepers.push(sleeper);
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /** Moves time forward by `ms`, waking sleepers on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      this.#sleepers.sort((a, b) => a.at - b.at);
      const next = this.#sleepers[0];
      if (!next || next.at > target) break;
      this.#sleepers.shift();
      this.#now = next.at;
      next.resolve();
      await Promise.resolve();
    }
    this.#now = target;
  }

  set(time: number): void {
    this.#now = time;
  }
}
