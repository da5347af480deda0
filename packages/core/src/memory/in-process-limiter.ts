import type { Clock } from "../ports/clock.ts";
import type { Limiter, LimiterDecision, LimiterState, Limits } from "../ports/limiter.ts";
import { systemClock } from "./system-clock.ts";

/**
 * Concurrency and rate limits within one process (a sliding window log per key). Each permit has
 * an expiry, like the Redis limiter's, so a forgotten permit cannot block a key forever.
 */
export class InProcessLimiter implements Limiter {
  readonly #permits = new Map<string, Map<symbol, number>>();
  readonly #calls = new Map<string, number[]>();
  readonly #clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async acquire(
    key: string,
    limits: Limits,
    options: { permitTtlMs?: number } = {},
  ): Promise<LimiterDecision> {
    const now = this.#clock.now();
    const permits = this.#permits.get(key) ?? new Map<symbol, number>();
    this.#permits.set(key, permits);
    for (const [token, expiresAt] of permits) if (expiresAt <= now) permits.delete(token);

    if (limits.concurrency !== undefined && permits.size >= limits.concurrency) {
      const soonest = Math.min(...permits.values());
      return {
        granted: false,
        retryAfterMs: Math.max(1, Math.min(50, soonest - now)),
        reason: "concurrency",
      };
    }
    if (limits.rate !== undefined) {
      const windowStart = now - limits.rate.windowMs;
      const calls = (this.#calls.get(key) ?? []).filter((at) => at > windowStart);
      this.#calls.set(key, calls);
      if (calls.length >= limits.rate.limit) {
        return {
          granted: false,
          retryAfterMs: Math.max(1, calls[0]! - windowStart),
          reason: "rate",
        };
      }
      calls.push(now);
    }
    const token = Symbol(key);
    permits.set(token, now + (options.permitTtlMs ?? 60_000));
    return {
      granted: true,
      permit: {
        release: async () => {
          permits.delete(token);
        },
      },
    };
  }

  async state(key: string, limits: Limits): Promise<LimiterState> {
    const now = this.#clock.now();
    let held = 0;
    for (const expiresAt of this.#permits.get(key)?.values() ?? []) if (expiresAt > now) held++;
    const windowStart = now - (limits.rate?.windowMs ?? 0);
    const inWindow =
      limits.rate === undefined
        ? 0
        : (this.#calls.get(key) ?? []).filter((at) => at > windowStart).length;
    return { held, inWindow };
  }

  async close(): Promise<void> {
    this.#permits.clear();
    this.#calls.clear();
  }
}
