import type { Clock, StartQueueStore, StuckStore } from "@capflow/core";
import { Gauge, type Registry } from "prom-client";

/** What the protection gauges read on each scrape. */
export interface ProtectionMetricsSources {
  /** `capflow_stuck_instances{channel,behavior,step}` (`KnexStuckStore`). */
  stuck?: Pick<StuckStore, "stuckCounts">;
  /** `capflow_queued_starts` and `capflow_queued_start_oldest_age_seconds` (`KnexStartQueueStore`). */
  queues?: Pick<StartQueueStore, "queueDepths">;
}

/** Gauges of the business protection layer, read from its stores on each scrape; ages against `clock`. */
export function registerProtectionGauges(
  registry: Registry,
  prefix: string,
  sources: ProtectionMetricsSources,
  clock: Pick<Clock, "now">,
): void {
  const { stuck, queues } = sources;
  if (stuck) {
    new Gauge({
      name: `${prefix}stuck_instances`,
      help: "Instances past their stuck-order limit (卡单), by channel, behavior and step",
      labelNames: ["channel", "behavior", "step"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const { channel, behavior, step, count } of await stuck.stuckCounts()) {
          this.set({ channel, behavior, step }, count);
        }
      },
    });
  }
  if (queues) {
    let read: ReturnType<typeof queues.queueDepths> | undefined;
    const depths = () => {
      read ??= queues.queueDepths().finally(() => setTimeout(() => (read = undefined), 0));
      return read;
    };
    new Gauge({
      name: `${prefix}queued_starts`,
      help: "Starts waiting in a peak-shaving queue, by channel and behavior",
      labelNames: ["channel", "behavior"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const { channel, behavior, depth } of await depths())
          this.set({ channel, behavior }, depth);
      },
    });
    new Gauge({
      name: `${prefix}queued_start_oldest_age_seconds`,
      help: "Age of the oldest queued start, by channel and behavior",
      labelNames: ["channel", "behavior"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const { channel, behavior, oldestEnqueuedAt } of await depths()) {
          if (oldestEnqueuedAt !== null) {
            this.set({ channel, behavior }, (clock.now() - oldestEnqueuedAt) / 1000);
          }
        }
      },
    });
  }
}
