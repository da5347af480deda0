/**
 * Mutual exclusion across workers (Redis with redlock in @capflow/lock-redis; in-process in
 * core). Locks reduce contention; they are not the safety: the store's compare-and-set is.
 */
export interface LockProvider {
  /**
   * Acquires `key` for `ttlMs`, extended automatically while held. Throws `CapflowError`
   * `LOCK_NOT_ACQUIRED` if not acquired within `waitMs` (default: one try), `LOCK_UNAVAILABLE`
   * (retryable) if the lock service cannot be reached.
   */
  acquire(key: string, options: LockOptions): Promise<Lock>;
  close(): Promise<void>;
}

export interface LockOptions {
  ttlMs: number;
  waitMs?: number;
  signal?: AbortSignal;
}

export interface Lock {
  readonly key: string;
  /** Aborted when the lock is lost (extension failed or expired): stop before the next partner call. */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}
