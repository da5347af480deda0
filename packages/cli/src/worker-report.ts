import type { EngineEvent, FlowEvent, InstanceRecord } from "@capflow/core";

/**
 * What `capflow worker` tells the operator: every settled instance, every failed attempt (with
 * whether it will be retried), every parked instance (needing attention), circuit breakers opening
 * and closing, limiter waits (once per interface and minute, counted every time), a line of counts
 * every minute, and counts at exit. As text for people, or one JSON object per line
 * (`--log-format json`) for log collectors.
 */
export type LogFormat = "text" | "json";

export interface WorkerCounts {
  /** Step attempts that ended (succeeded or failed). */
  attempts: number;
  steps: number;
  failures: number;
  /** Failures that will not be retried by themselves. */
  failuresFinal: number;
  limiterWaits: number;
  settled: number;
  parked: number;
  breakersOpened: number;
}

export interface WorkerReporter {
  readonly counts: WorkerCounts;
  /** An engine event; `instance` when the reporter asked for it (settled, parked, failed). */
  engine(event: EngineEvent, instance?: InstanceRecord): void;
  flow(event: FlowEvent): void;
  /** Free text (banner, stopping), as a line or a `{ "event": "worker.<kind>", message }` object. */
  note(kind: string, message: string): void;
  minute(): void;
  summary(): void;
}

/** Engine events whose line names the instance (the reporter looks it up first). */
export const eventsNamingAnInstance = new Set<EngineEvent["type"]>([
  "instance.settled",
  "instance.attention",
  "step.failed",
]);

const limiterCodes = new Set([
  "LIMITER_REJECTED",
  "LIMITER_UNAVAILABLE",
  "CIRCUIT_OPEN",
  "CALENDAR_CLOSED",
]);

export function createWorkerReporter(options: {
  format: LogFormat;
  out: (text: string) => void;
  /** Print a line per settled instance. Default true. */
  eachSettled?: boolean;
  now?: () => Date;
}): WorkerReporter {
  const now = options.now ?? (() => new Date());
  const counts: WorkerCounts = {
    attempts: 0,
    steps: 0,
    failures: 0,
    failuresFinal: 0,
    limiterWaits: 0,
    settled: 0,
    parked: 0,
    breakersOpened: 0,
  };
  const limitedThisMinute = new Set<string>();
  const line = (event: string, text: string, fields: Record<string, unknown>) => {
    const time = now().toISOString();
    options.out(
      options.format === "json"
        ? `${JSON.stringify({ time, event, ...fields })}\n`
        : `${time} ${text}\n`,
    );
  };
  const what = (instance: InstanceRecord | undefined, id: string) =>
    instance ? `${instance.channel}/${instance.behavior} ${instance.businessKey}` : id;
  const instanceFields = (instance: InstanceRecord | undefined) =>
    instance === undefined
      ? {}
      : {
          channel: instance.channel,
          behavior: instance.behavior,
          businessKey: instance.businessKey,
        };

  return {
    counts,
    engine(event, instance) {
      switch (event.type) {
        case "step.succeeded":
          counts.attempts++;
          counts.steps++;
          return;
        case "step.failed": {
          counts.attempts++;
          if (limiterCodes.has(event.code)) {
            counts.limiterWaits++;
            const key = `${instance?.channel ?? "?"} ${event.step}`;
            if (limitedThisMinute.has(key)) return;
            limitedThisMinute.add(key);
            line(
              "step.limited",
              `limited   ${what(instance, event.instanceId)} at ${event.step}: ${event.code}, not sent, retried later (once a minute per step)`,
              { ...event, ...instanceFields(instance) },
            );
            return;
          }
          counts.failures++;
          if (!event.willRetry) counts.failuresFinal++;
          line(
            "step.failed",
            `failed    ${what(instance, event.instanceId)} at ${event.step}: ${event.code} (${event.errorClass}), ${event.willRetry ? "will retry" : "no retry"}`,
            { ...event, ...instanceFields(instance) },
          );
          return;
        }
        case "instance.attention":
          counts.parked++;
          line(
            "instance.attention",
            `parked    ${what(instance, event.instanceId)} at ${event.step}: ${event.reason}${event.code ? ` (${event.code})` : ""}; see capflow instances show ${event.instanceId}`,
            { ...event, ...instanceFields(instance) },
          );
          return;
        case "instance.settled":
          counts.settled++;
          if (options.eachSettled === false) return;
          line(
            "instance.settled",
            `${event.status.padEnd(9)} ${what(instance, event.instanceId)} at ${event.step} (${event.instanceId})`,
            { ...event, ...instanceFields(instance) },
          );
          return;
        case "instance.stuck":
          line(
            "instance.stuck",
            `stuck     ${event.channel}/${event.behavior} ${event.businessKey} at ${event.step}: past its ${event.scope} limit of ${Math.round(event.slaMs / 60_000)} min; see capflow instances stuck`,
            { ...event },
          );
          return;
        default:
          return;
      }
    },
    flow(event) {
      if (event.type === "permit.release-failed") {
        line(
          event.type,
          `limiter   ${event.channel} ${event.interface}: a permit could not be given back (${event.error instanceof Error ? event.error.message : String(event.error)}); it expires by itself`,
          { type: event.type, channel: event.channel, interface: event.interface },
        );
        return;
      }
      if (event.type === "breaker.report-failed") {
        line(
          event.type,
          `breaker   ${event.channel} ${event.interface}: its state could not be reported to the cluster (${event.error instanceof Error ? event.error.message : String(event.error)}); the console may show it late`,
          { type: event.type, channel: event.channel, interface: event.interface },
        );
        return;
      }
      if (event.type === "breaker.open") counts.breakersOpened++;
      const state = event.type.slice("breaker.".length);
      line(
        event.type,
        `breaker   ${event.channel} ${event.interface} ${state}${state === "open" ? ": calls are held back until a probe succeeds" : ""}`,
        event,
      );
    },
    note(kind, message) {
      if (options.format === "json") line(`worker.${kind}`, message, { message });
      else options.out(`${message}\n`);
    },
    minute() {
      limitedThisMinute.clear();
      line("worker.counts", `counts    ${describeCounts(counts)}`, { ...counts });
    },
    summary() {
      if (options.format === "json") line("worker.stopped", "", { ...counts });
      else options.out(`stopped: ${describeCounts(counts)}\n`);
    },
  };
}

function describeCounts(counts: WorkerCounts): string {
  return `${counts.steps} steps, ${counts.attempts} attempts, ${counts.failures} failed (${counts.failuresFinal} not retried), ${counts.limiterWaits} limiter waits, ${counts.settled} instances settled, ${counts.parked} needing attention, ${counts.breakersOpened} breakers opened`;
}
