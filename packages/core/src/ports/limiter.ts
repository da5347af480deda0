/**
 * Flow control shared by all workers: a concurrency limit and a rate limit per key (normally
 * `channel:interface`). Redis-backed in @capflow/lock-redis; in-process in core. Limits are passed
 * on every call so a changed channel definition applies without restart.
 */
export interface Limiter {
  /**
   * Takes a permit, or says how long to wait. Never throws for "limit reached" (that is normal
   * flow control); throws `CapflowError` `LIMITER_UNAVAILABLE` (retryable) when the backing
   * service is down, so the engine delays the step instead of calling without limits.
   */
  acquire(
    key: string,
    limits: Limits,
    options?: { permitTtlMs?: number },
  ): Promise<LimiterDecision>;
  /**
   * How full the key's limits are now, without taking anything: permits held and calls within the
   * rate window (`limits` gives the window). Read by the operator API for every node's calls at
   * once, so a shared limiter answers for the whole cluster. Optional: a limiter without it is
   * shown as not known.
   */
  state?(key: string, limits: Limits): Promise<LimiterState>;
  close(): Promise<void>;
}

export interface LimiterState {
  /** Permits held now (unreleased and unexpired). */
  held: number;
  /** Acquisitions within the last `limits.rate.windowMs`; 0 without a rate limit. */
  inWindow: number;
}

export interface Limits {
  /** Maximum permits held at once. */
  concurrency?: number;
  /** Maximum acquisitions per window. */
  rate?: { limit: number; windowMs: number };
}

export type LimiterDecision =
  | { granted: true; permit: Permit }
  | { granted: false; retryAfterMs: number; reason: "concurrency" | "rate" };

export interface Permit {
  /** Idempotent. A permit not released expires after its TTL, so a crashed worker leaks nothing. */
  release(): Promise<void>;
}
