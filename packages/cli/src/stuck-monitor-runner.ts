import { type EngineEventListener, StuckMonitor, systemClock } from "@capflow/core";
import { type CapflowDatabase, KnexStuckStore, knexExclusiveRunner } from "@capflow/store-knex";

/** The stuck-order monitor of a `capflow serve` or `capflow worker` process, until stopped. */
export interface ProcessStuckMonitor {
  /** Settles when the first round has run (or was skipped: another node held it or scanned less than a minute ago, or it failed). */
  firstRound: Promise<void>;
  /** Ends the rounds after the one in progress. */
  stop(): Promise<void>;
}

const intervalMs = 60_000;

/**
 * Runs the stuck-order monitor (卡单) in this process: a round at once, then every minute, on one
 * node at a time (`knexExclusiveRunner`, an advisory lock on PostgreSQL), so every `serve` and
 * `worker` node may run it; a node skips its round when another finished one less than a minute
 * ago, so the cluster scans once a minute. Each breach is recorded once in `sla_breaches` and given to `onEvent`
 * as `instance.stuck` by the node that found it.
 */
export function startProcessStuckMonitor(
  db: CapflowDatabase,
  deps: { onEvent: EngineEventListener; onError: (error: unknown) => void },
): ProcessStuckMonitor {
  const monitor = new StuckMonitor({
    store: new KnexStuckStore(db),
    definitions: db.definitions,
    clock: systemClock,
    exclusive: knexExclusiveRunner(db),
    onEvent: deps.onEvent,
    onError: deps.onError,
    intervalMs,
  });
  const abort = new AbortController();
  const firstRound = monitor.check().then(() => undefined, deps.onError);
  const running = firstRound.then(async () => {
    await systemClock.sleep(intervalMs, abort.signal).catch(() => {});
    if (!abort.signal.aborted) await monitor.run(abort.signal, deps.onError);
  });
  return {
    firstRound,
    async stop() {
      abort.abort();
      await running;
    },
  };
}
