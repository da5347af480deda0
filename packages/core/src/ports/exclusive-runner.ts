/**
 * Runs a piece of work on one node at a time across a cluster: monitors that must not fire twice
 * (stuck orders, alert rules) take it before each round. A node that finds it taken skips the round
 * instead of waiting. PostgreSQL advisory locks in @capflow/store-knex; in-process in core.
 */
export interface ExclusiveRunner {
  /** Runs `work` unless another holder runs under `key` now; then returns `{ ran: false }` at once. */
  runExclusive<T>(key: string, work: () => Promise<T>): Promise<ExclusiveRun<T>>;
}

export type ExclusiveRun<T> = { ran: true; value: T } | { ran: false };

/** One process: an in-memory set of keys held. */
export function inProcessExclusiveRunner(): ExclusiveRunner {
  const held = new Set<string>();
  return {
    async runExclusive<T>(key: string, work: () => Promise<T>): Promise<ExclusiveRun<T>> {
      if (held.has(key)) return { ran: false };
      held.add(key);
      try {
        return { ran: true, value: await work() };
      } finally {
        held.delete(key);
      }
    },
  };
}
