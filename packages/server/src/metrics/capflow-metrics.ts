import {
  type Clock,
  type EngineEvent,
  type FlowEvent,
  hasStoreStatistics,
  isOutboxStore,
  type OutboxEvent,
  type OutboxStore,
  type StoreStatistics,
  systemClock,
} from "@capflow/core";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type ProtectionMetricsSources, registerProtectionGauges } from "./protection-gauges.ts";

export interface CapflowMetricsOptions {
  /**
   * The store whose backlogs are read on each scrape (instances by status and age, the inbox,
   * the outbox): cheap, index-served queries. Without one, those gauges are left out.
   */
  store?: object;
  /** Also export Node's process metrics (CPU, memory, event loop lag). Default true. */
  processMetrics?: boolean;
  /** Metric name prefix. Default `capflow_`. */
  prefix?: string;
  /** Stuck instances and queued starts, read on each scrape. */
  protection?: ProtectionMetricsSources;
  /** What ages (the oldest instance, notification, queued start) are measured against. Default: the system clock. */
  clock?: Pick<Clock, "now">;
}

/** Partner call latency buckets, in seconds: loopback-fast to a slow bank's 30 s timeout. */
const callBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const breakerValue = { "breaker.closed": 0, "breaker.half-open": 1, "breaker.open": 2 } as const;

/**
 * capflow's Prometheus metrics, fed by the engine's events (`observeEngine`), flow control's
 * (`observeFlow`) and the outbox dispatcher's (`observeOutbox`), and by the store on each scrape.
 * Labels are definition codes, outcomes and error codes only: never business keys or instance ids.
 *
 * ```ts
 * const metrics = new CapflowMetrics({ store: db.instances });
 * const engine = createEngine({ ..., onEvent: metrics.observeEngine });
 * const app = createServer({ engine, metrics });
 * ```
 */
export class CapflowMetrics {
  readonly registry = new Registry();
  readonly #clock: Pick<Clock, "now">;
  readonly #steps: Counter<"channel" | "behavior" | "kind" | "interface" | "outcome" | "status">;
  readonly #calls: Histogram<"channel" | "interface" | "outcome">;
  readonly #limiterWaits: Counter<"channel" | "interface" | "reason">;
  readonly #breakers: Gauge<"channel" | "interface">;
  readonly #started: Counter<"channel" | "behavior">;
  readonly #settled: Counter<"status">;
  readonly #attention: Counter<"reason">;
  readonly #callbacks: Counter<"channel" | "callback" | "result">;
  readonly #rejected: Counter<"channel" | "callback" | "code">;
  readonly #ownershipLost: Counter;
  readonly #notifications: Counter<"type" | "result">;
  readonly #routed: Counter<"product" | "channel" | "rule">;
  readonly #candidates: Counter<"product" | "channel" | "state">;
  readonly #routingRefused: Counter<"product">;
  readonly #failovers: Counter<"product" | "from" | "to">;

  constructor(options: CapflowMetricsOptions = {}) {
    const prefix = options.prefix ?? "capflow_";
    this.#clock = options.clock ?? systemClock;
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix });
    this.#steps = new Counter({
      name: `${prefix}steps_total`,
      help: "Steps run and committed, by channel, behavior, step kind, interface, outcome and the status they left",
      labelNames: ["channel", "behavior", "kind", "interface", "outcome", "status"],
      registers,
    });
    this.#calls = new Histogram({
      name: `${prefix}partner_call_duration_seconds`,
      help: "Partner calls from sealing to the opened answer, by channel, interface and outcome (answered, notSent, unknownOutcome, invalidResponse, refused)",
      labelNames: ["channel", "interface", "outcome"],
      buckets: callBuckets,
      registers,
    });
    this.#limiterWaits = new Counter({
      name: `${prefix}limiter_waits_total`,
      help: "Partner calls held back by flow control (concurrency, rate, bulkhead, circuit-open, limiter-unavailable); the step is delayed, never failed",
      labelNames: ["channel", "interface", "reason"],
      registers,
    });
    this.#breakers = new Gauge({
      name: `${prefix}breaker_state`,
      help: "Circuit breaker state per interface in this process: 0 closed, 1 half-open, 2 open",
      labelNames: ["channel", "interface"],
      registers,
    });
    this.#started = new Counter({
      name: `${prefix}instances_started_total`,
      help: "Instances started",
      labelNames: ["channel", "behavior"],
      registers,
    });
    this.#settled = new Counter({
      name: `${prefix}instances_settled_total`,
      help: "Instances settled, by status",
      labelNames: ["status"],
      registers,
    });
    this.#attention = new Counter({
      name: `${prefix}instances_attention_total`,
      help: "Instances that need a person, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.#callbacks = new Counter({
      name: `${prefix}callbacks_total`,
      help: "Funder callbacks received, by result (accepted, duplicate, rejected)",
      labelNames: ["channel", "callback", "result"],
      registers,
    });
    this.#rejected = new Counter({
      name: `${prefix}callbacks_rejected_total`,
      help: "Funder callbacks refused (forged, unreadable, unknown), by error code",
      labelNames: ["channel", "callback", "code"],
      registers,
    });
    this.#ownershipLost = new Counter({
      name: `${prefix}ownership_lost_total`,
      help: "Commits refused because another worker moved the instance first",
      registers,
    });
    this.#notifications = new Counter({
      name: `${prefix}notifications_total`,
      help: "Deliveries of notifications to the upstream, by type and result (delivered, retrying, failed)",
      labelNames: ["type", "result"],
      registers,
    });
    this.#routed = new Counter({
      name: `${prefix}routed_total`,
      help: "Product starts routed to a channel, by product, channel and the rule that chose it (weighted-round-robin, sticky, alternate, next-with-quota)",
      labelNames: ["product", "channel", "rule"],
      registers,
    });
    this.#candidates = new Counter({
      name: `${prefix}routing_candidates_total`,
      help: "What each channel of a product was when a start was routed or refused (chosen, ineligible, unhealthy, quota-exhausted, tried, not-needed)",
      labelNames: ["product", "channel", "state"],
      registers,
    });
    this.#routingRefused = new Counter({
      name: `${prefix}routing_refused_total`,
      help: "Product starts no channel could take (ROUTING_NO_CHANNEL), by product",
      labelNames: ["product"],
      registers,
    });
    this.#failovers = new Counter({
      name: `${prefix}failovers_total`,
      help: "Business carried on to another channel of its product after a failover step, by product and channels",
      labelNames: ["product", "from", "to"],
      registers,
    });
    const store = options.store;
    if (store !== undefined && hasStoreStatistics(store)) this.#storeGauges(prefix, store);
    if (store !== undefined && isOutboxStore(store)) this.#outboxGauges(prefix, store);
    if (options.protection)
      registerProtectionGauges(this.registry, prefix, options.protection, this.#clock);
  }

  /** An engine event listener (`EngineOptions.onEvent`). */
  readonly observeEngine = (event: EngineEvent): void => {
    switch (event.type) {
      case "step.finished":
        this.#steps.inc({
          channel: event.channel,
          behavior: event.behavior,
          kind: event.kind,
          interface: event.interface ?? "",
          outcome: event.outcome,
          status: event.status,
        });
        return;
      case "partner.called":
        this.#calls.observe(
          { channel: event.channel, interface: event.interface, outcome: event.outcome },
          event.durationMs / 1000,
        );
        if (event.outcome === "refused")
          this.#limiterWaits.inc({
            channel: event.channel,
            interface: event.interface,
            reason: event.refusal ?? "",
          });
        return;
      case "instance.started":
        this.#started.inc({ channel: event.channel, behavior: event.behavior });
        return;
      case "instance.settled":
        this.#settled.inc({ status: event.status });
        return;
      case "instance.attention":
        this.#attention.inc({ reason: event.reason });
        return;
      case "callback.received":
        this.#callbacks.inc({
          channel: event.channel,
          callback: event.callback,
          result: event.duplicate ? "duplicate" : "accepted",
        });
        return;
      case "callback.rejected":
        this.#callbacks.inc({
          channel: event.channel,
          callback: event.callback,
          result: "rejected",
        });
        this.#rejected.inc({ channel: event.channel, callback: event.callback, code: event.code });
        return;
      case "ownership.lost":
        this.#ownershipLost.inc();
        return;
      case "instance.routed":
        this.#routed.inc({ product: event.product, channel: event.channel, rule: event.rule });
        for (const candidate of event.candidates)
          this.#candidates.inc({
            product: event.product,
            channel: candidate.channel,
            state: candidate.state,
          });
        return;
      case "routing.refused":
        this.#routingRefused.inc({ product: event.product });
        for (const candidate of event.candidates)
          this.#candidates.inc({
            product: event.product,
            channel: candidate.channel,
            state: candidate.state,
          });
        return;
      case "instance.failed-over":
        this.#failovers.inc({
          product: event.product,
          from: event.fromChannel,
          to: event.toChannel,
        });
        return;
      default:
        return;
    }
  };

  /** A flow control listener (`FlowControlOptions.onEvent`): breaker states. */
  readonly observeFlow = (event: FlowEvent): void => {
    if (event.type in breakerValue)
      this.#breakers.set(
        { channel: event.channel, interface: event.interface },
        breakerValue[event.type as keyof typeof breakerValue],
      );
  };

  /** An outbox dispatcher listener (`OutboxDispatcherOptions.onEvent`). */
  readonly observeOutbox = (event: OutboxEvent): void => {
    this.#notifications.inc({
      type: event.notificationType,
      result:
        event.type === "notification.delivered"
          ? "delivered"
          : event.willRetry
            ? "retrying"
            : "failed",
    });
  };

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  #storeGauges(prefix: string, store: StoreStatistics): void {
    // One store read per scrape feeds every backlog gauge: the first gauge's collect reads, the
    // others use what it read.
    let read: Promise<Awaited<ReturnType<StoreStatistics["backlogs"]>>> | undefined;
    const backlogs = () => {
      read ??= store.backlogs().finally(() => setTimeout(() => (read = undefined), 0));
      return read;
    };
    const clock = this.#clock;
    const now = () => clock.now();
    new Gauge({
      name: `${prefix}instances`,
      help: "Instances running (active, waiting) or in manual review, by status",
      labelNames: ["status"],
      registers: [this.registry],
      async collect() {
        for (const group of (await backlogs()).instances)
          this.set({ status: group.status }, group.count);
      },
    });
    new Gauge({
      name: `${prefix}instances_oldest_age_seconds`,
      help: "Time since the least recently changed instance of each status last changed (0 when none)",
      labelNames: ["status"],
      registers: [this.registry],
      async collect() {
        for (const group of (await backlogs()).instances)
          this.set(
            { status: group.status },
            group.oldestUpdatedAt === null ? 0 : (now() - group.oldestUpdatedAt) / 1000,
          );
      },
    });
    new Gauge({
      name: `${prefix}inbox_pending`,
      help: "Funder callbacks stored and not yet applied to an instance",
      registers: [this.registry],
      async collect() {
        this.set((await backlogs()).inbox.pending);
      },
    });
    new Gauge({
      name: `${prefix}inbox_oldest_age_seconds`,
      help: "Age of the oldest callback not yet applied (0 when none)",
      registers: [this.registry],
      async collect() {
        const oldest = (await backlogs()).inbox.oldestReceivedAt;
        this.set(oldest === null ? 0 : (now() - oldest) / 1000);
      },
    });
  }

  #outboxGauges(prefix: string, store: OutboxStore): void {
    let read: Promise<Awaited<ReturnType<OutboxStore["outboxBacklog"]>>> | undefined;
    const backlog = () => {
      read ??= store.outboxBacklog().finally(() => setTimeout(() => (read = undefined), 0));
      return read;
    };
    const clock = this.#clock;
    new Gauge({
      name: `${prefix}outbox_notifications`,
      help: "Notifications for the upstream not delivered: pending (to be tried) and failed (the schedule ran out)",
      labelNames: ["status"],
      registers: [this.registry],
      async collect() {
        const { pending, failed } = await backlog();
        this.set({ status: "pending" }, pending);
        this.set({ status: "failed" }, failed);
      },
    });
    new Gauge({
      name: `${prefix}outbox_oldest_age_seconds`,
      help: "Age of the oldest pending notification (0 when none)",
      registers: [this.registry],
      async collect() {
        const oldest = (await backlog()).oldestPendingAt;
        this.set(oldest === null ? 0 : (clock.now() - oldest) / 1000);
      },
    });
  }
}
