import { AsyncLocalStorage } from "node:async_hooks";
import { CapflowError, isCapflowError } from "../errors.ts";
import type { Lock, LockProvider } from "../ports/lock-provider.ts";

export interface WithLockOptions<KeyArgs extends unknown[], This> {
  /**
   * Builds the lock key from the method's leading arguments, e.g. `(loanId: string) => \`loan:${loanId}\``.
   * Keys appear in errors and logs: build them from identifiers, never from personal data.
   */
  key: (...args: KeyArgs) => string;
  /** Lock lifetime; the provider extends it while the method runs. */
  ttlMs: number;
  /** How long to wait for a lock held elsewhere. Default 0: one try. */
  waitMs?: number;
  /** The provider, looked up on each call (so it can come from the instance or a container). */
  locks: (this: This) => LockProvider;
}

const heldLocks = new AsyncLocalStorage<Lock>();

/**
 * The lock taken by the innermost `@withLock` method running in this async context, if any.
 * Check `currentLock()?.signal` before each irreversible step (a partner call, a payment): it is
 * aborted when the lock is lost. The lock is found through `AsyncLocalStorage` rather than an
 * extra parameter, so decorating a method does not change its signature.
 */
export function currentLock(): Lock | undefined {
  return heldLocks.getStore();
}

/**
 * A TC39 method decorator: the method runs while holding a distributed lock on a key built from
 * its arguments, released when it settles. When the lock cannot be taken within `waitMs` the
 * method does not run and the call rejects with a retryable `LOCK_NOT_ACQUIRED` naming the key.
 *
 * ```ts
 * class RepaymentService {
 *   @withLock({ key: (loanId: string) => `repay:${loanId}`, ttlMs: 10_000, waitMs: 2_000, locks: () => locks })
 *   async settle(loanId: string, amount: number): Promise<void> {
 *     currentLock()?.signal.throwIfAborted();
 *     ...
 *   }
 * }
 * ```
 *
 * The lock reduces contention; it does not make a write safe by itself (a paused process can
 * lose it unknowingly). Guard the write itself with a compare-and-set, as the engine does.
 */
export function withLock<KeyArgs extends unknown[], This = unknown>(
  options: WithLockOptions<KeyArgs, This>,
) {
  return <Args extends [...KeyArgs, ...unknown[]], Return>(
    method: (this: This, ...args: Args) => Promise<Return>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Promise<Return>>,
  ): ((this: This, ...args: Args) => Promise<Return>) => {
    const methodName = String(context.name);
    return async function lockedMethod(this: This, ...args: Args): Promise<Return> {
      const key = options.key(...(args as unknown as KeyArgs));
      const waitMs = options.waitMs ?? 0;
      let lock: Lock;
      try {
        lock = await options.locks.call(this).acquire(key, { ttlMs: options.ttlMs, waitMs });
      } catch (error) {
        if (!isCapflowError(error, "LOCK_NOT_ACQUIRED")) throw error;
        throw new CapflowError(
          "LOCK_NOT_ACQUIRED",
          `${methodName}: lock "${key}" is held elsewhere and was not released within ${waitMs} ms; the method did not run, try again later`,
          { context: { lock: key, method: methodName }, cause: error },
        );
      }
      try {
        return await heldLocks.run(lock, () => method.apply(this, args));
      } finally {
        // A failed release must not hide the method's own outcome: the lock expires after its TTL.
        await lock.release().catch(() => {});
      }
    };
  };
}
