import type { EngineEvent, OutboxEvent } from "@capflow/core";

/** The part of a pino logger the event log uses. */
export interface EventLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

/**
 * A listener writing each engine event as one structured log line (`event` names its type).
 * Events carry codes and ids, never message bodies, keys or personal data: step requests and
 * answers stay in the masked step logs. Problems (failed attempts, attention, refused callbacks,
 * lost ownership, stuck orders) are `warn`; starts and settlements `info`; each step and partner call `debug`.
 */
export function engineEventLog(logger: EventLogger): (event: EngineEvent) => void {
  return (event) => {
    const { type, ...fields } = event;
    const line = { event: type, ...fields };
    switch (type) {
      case "step.failed":
      case "instance.attention":
      case "callback.rejected":
      case "ownership.lost":
      case "routing.refused":
      case "instance.stuck":
        logger.warn(line, describe(event));
        return;
      case "step.finished":
      case "step.succeeded":
      case "partner.called":
      case "callback.received":
        logger.debug(line, describe(event));
        return;
      default:
        logger.info(line, describe(event));
    }
  };
}

/** A listener writing each delivery attempt of the outbox as a log line. */
export function outboxEventLog(logger: EventLogger): (event: OutboxEvent) => void {
  return (event) => {
    const { type, ...fields } = event;
    if (type === "notification.delivered")
      logger.info({ event: type, ...fields }, `notification ${event.id} delivered`);
    else
      logger.warn(
        { event: type, ...fields },
        `notification ${event.id} not delivered (${event.code})${event.willRetry ? "; will retry" : "; gave up, re-send it when the receiver is back"}`,
      );
  };
}

function describe(event: EngineEvent): string {
  switch (event.type) {
    case "instance.started":
      return `instance ${event.instanceId} started (${event.channel} ${event.behavior})`;
    case "step.finished":
      return `step ${event.step} of ${event.instanceId}: ${event.outcome}`;
    case "step.succeeded":
      return `step ${event.step} of ${event.instanceId} moved to ${event.to}`;
    case "step.failed":
      return `step ${event.step} of ${event.instanceId} failed (${event.code})${event.willRetry ? "; will retry" : ""}`;
    case "instance.settled":
      return `instance ${event.instanceId} settled ${event.status}`;
    case "instance.attention":
      return `instance ${event.instanceId} needs attention: ${event.reason}${event.code ? ` (${event.code})` : ""}`;
    case "partner.called":
      return `${event.channel} ${event.interface}: ${event.outcome}${event.httpStatus ? ` ${event.httpStatus}` : ""} in ${Math.round(event.durationMs)} ms`;
    case "callback.received":
      return `callback ${event.channel} ${event.callback}${event.duplicate ? " (duplicate)" : ""}`;
    case "callback.rejected":
      return `callback ${event.channel} ${event.callback} rejected (${event.code})`;
    case "ownership.lost":
      return `instance ${event.instanceId} moved by another worker; this one stopped`;
    case "instance.routed":
      return `instance ${event.instanceId} routed to ${event.channel} (${event.product})`;
    case "routing.refused":
      return `product ${event.product}: no channel can take the start`;
    case "instance.stuck":
      return `instance ${event.instanceId} stuck at ${event.step}: past its ${event.scope} limit of ${Math.round(event.slaMs / 60_000)} min`;
    case "instance.failed-over":
      return `instance ${event.instanceId} failed over from ${event.fromChannel} to ${event.toChannel}`;
    default:
      return (event as { type: string }).type;
  }
}
