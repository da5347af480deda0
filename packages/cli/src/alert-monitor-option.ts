import { dirname } from "node:path";
import {
  AlertMonitor,
  type BreakerBoard,
  channelCertificateExpiry,
  createDefaultSecretResolver,
  type EngineEvent,
  type FlowEvent,
  systemClock,
} from "@capflow/core";
import { reconciliationAlerts } from "@capflow/reconcile";
import {
  type CapflowDatabase,
  KnexAlertCountStore,
  KnexAlertStore,
  KnexStuckStore,
  knexExclusiveRunner,
} from "@capflow/store-knex";
import type { loadAlertsConfig } from "./reconcile-alerts-option.ts";

/** The alert monitor of a `capflow serve` or `capflow worker` process, running until stopped. */
export interface ProcessAlerts {
  /** Feed the engine's events (calls, limiter refusals, callbacks). */
  observe(event: EngineEvent): void;
  /** Feed flow-control events (breakers). */
  observeFlow(event: FlowEvent): void;
  /** Raises an alert of a `raised` rule (queued starts that expired); nothing without the rule. */
  raise: AlertMonitor["raise"];
  /** Stops evaluating, and adds this node's last counts. */
  stop(): Promise<void>;
}

/**
 * Runs the alert rules of `--alerts <file>` for this process: counts shared in the database
 * (`KnexAlertCountStore`), so failure rates, limiter saturation and refused callbacks are judged
 * over every node; rounds evaluated by one node at a time (`knexExclusiveRunner`, an advisory
 * lock on PostgreSQL); alerts deduplicated in the database whichever node fires them. With a
 * breaker board (Redis), breakers are judged over every node's reports.
 */
export function startProcessAlerts(
  db: CapflowDatabase,
  { config, path }: Awaited<ReturnType<typeof loadAlertsConfig>>,
  onError: (error: unknown) => void,
  breakers?: BreakerBoard,
  options: {
    /** Rounds begin once this settles (the stuck-order monitor's first round), or at once. */
    after?: Promise<unknown>;
  } = {},
): ProcessAlerts {
  const monitor = new AlertMonitor({
    config,
    store: new KnexAlertStore(db),
    counts: new KnexAlertCountStore(db),
    exclusive: knexExclusiveRunner(db),
    clock: systemClock,
    secrets: createDefaultSecretResolver({ baseDir: dirname(path) }),
    stuck: new KnexStuckStore(db),
    outbox: db.instances,
    reconciliation: reconciliationAlerts(db),
    // The stored channels' certificates, resolved as the engine resolves them (`--keys-dir`).
    certificates: channelCertificateExpiry({ definitions: db.definitions, clock: systemClock }),
    ...(breakers ? { breakers } : {}),
    onError,
  });
  const abort = new AbortController();
  const aborted = new Promise<void>((resolve) => {
    abort.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  // A stop before `after` settles ends it without a round, rather than waiting for it.
  const running = Promise.race([options.after?.catch(() => {}), aborted]).then(() =>
    abort.signal.aborted ? undefined : monitor.run(abort.signal),
  );
  return {
    observe: (event) => monitor.observe(event),
    observeFlow: (event) => monitor.observeFlow(event),
    raise: (rule, subject, summary, details) => monitor.raise(rule, subject, summary, details),
    async stop() {
      abort.abort();
      await running;
      await monitor.settled();
      await monitor.flush().catch(onError);
    },
  };
}
