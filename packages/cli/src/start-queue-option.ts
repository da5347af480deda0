import {
  type ChannelCalendar,
  type DefinitionSource,
  type Engine,
  type QueueEvent,
  StartQueue,
  systemClock,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexStartQueueStore,
  knexExclusiveRunner,
} from "@capflow/store-knex";
import type { ProcessAlerts } from "./alert-monitor-option.ts";
import type { QueuesFile } from "./queues-file.ts";

/** The start queue of a `capflow serve` or `capflow worker` process, admitting until stopped. */
export interface ProcessQueue {
  /** What the intake API queues starts into (`createServer({ intake: { queue } })`). */
  queue: StartQueue;
  /** Ends the admission loop after the round in progress. */
  stop(): Promise<void>;
}

/**
 * Runs the start queue of `--queues <file>` in this process: every node that has the file takes
 * part, one at a time (`knexExclusiveRunner`, an advisory lock on PostgreSQL), so starts are
 * admitted at each policy's rate whatever the number of nodes. An expiry or give-up writes its
 * `start.expired` or `start.gave-up` notification in the same statement, whichever node admits:
 * the dispatcher of any process with `--notify-url` delivers it. With `alerts`, it also raises
 * `queued-starts-expired`. With `calendar` (the engine's), starts wait while their channel is
 * closed for the first call and expire at a cut-off that expires waiting calls.
 */
export function startProcessQueue(
  db: CapflowDatabase,
  { policies }: QueuesFile,
  deps: {
    engine: Engine;
    definitions: DefinitionSource;
    calendar?: ChannelCalendar;
    alerts?: ProcessAlerts;
    onEvent?: (event: QueueEvent) => void;
    onError: (error: unknown) => void;
  },
): ProcessQueue {
  const queue = new StartQueue({
    store: new KnexStartQueueStore(db),
    engine: deps.engine,
    definitions: deps.definitions,
    clock: systemClock,
    policies,
    exclusive: knexExclusiveRunner(db),
    notifications: true,
    ...(deps.calendar ? { calendar: deps.calendar } : {}),
    ...(deps.alerts ? { alerts: deps.alerts } : {}),
    ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
  });
  const abort = new AbortController();
  const running = queue.run(abort.signal, deps.onError);
  return {
    queue,
    async stop() {
      abort.abort();
      await running;
    },
  };
}
