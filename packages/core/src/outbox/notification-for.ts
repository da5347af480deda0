import type { AttentionReason, EngineEvent } from "../engine/engine-events.ts";
import { newId } from "../engine/new-id.ts";
import type { InstanceRecord, Transition } from "../ports/instance-store.ts";
import type {
  NewNotification,
  NotificationPayload,
  NotificationType,
} from "../ports/outbox-store.ts";
import { publicError } from "../public-error.ts";

/** Which changes notify the upstream, and whom. `EngineOptions.notifications`. */
export interface NotificationOptions {
  /**
   * Attention reasons that notify. Default: `manual`, `exhausted`, `parked`,
   * `late-notification`. (`repeated-errors` is raised while retries still go on.)
   */
  attention?: readonly AttentionReason[];
  /**
   * Whom an instance's notifications are for (e.g. the upstream client that started it), stored
   * with each notification for the dispatcher's `NotificationTargets`. Default: the upstream
   * client that started the instance through the intake API (`instance.upstreamClient`), else
   * null (the dispatcher's default target).
   */
  target?: (instance: InstanceRecord) => string | null;
}

export interface NotificationPolicy {
  readonly attention: ReadonlySet<AttentionReason>;
  readonly target: (instance: InstanceRecord) => string | null;
}

export const defaultAttentionNotifications: readonly AttentionReason[] = [
  "manual",
  "exhausted",
  "parked",
  "late-notification",
];

export function notificationPolicy(options: NotificationOptions = {}): NotificationPolicy {
  return {
    attention: new Set(options.attention ?? defaultAttentionNotifications),
    target: options.target ?? ((instance) => instance.upstreamClient ?? null),
  };
}

/** What a commit reports to the upstream: the instance settled, or it needs a person. */
export type NotificationCause =
  | { kind: "settled"; status: "succeeded" | "failed" | "cancelled" }
  | { kind: "attention"; reason: AttentionReason };

/**
 * The cause among a commit's events: a settlement (succeeded, failed, cancelled) first, else an
 * attention the policy covers (a `manual` settlement is attention: a person reviews it).
 */
export function notificationCause(
  policy: NotificationPolicy,
  events: readonly EngineEvent[],
): NotificationCause | undefined {
  for (const event of events) {
    if (
      event.type === "instance.settled" &&
      (event.status === "succeeded" || event.status === "failed" || event.status === "cancelled")
    )
      return { kind: "settled", status: event.status };
  }
  for (const event of events) {
    if (event.type === "instance.attention" && policy.attention.has(event.reason))
      return { kind: "attention", reason: event.reason };
  }
  return undefined;
}

export interface NotificationSource {
  /** The instance as read before the transition. */
  before: InstanceRecord;
  transition: Transition;
  cause: NotificationCause;
  /**
   * Masks personal data with the channel's and behavior's rules; undefined when they could not be
   * read, and then the payload carries no result at all.
   */
  mask: ((value: unknown) => unknown) | undefined;
}

/**
 * The notification to write with `transition`: the instance as it will be once the transition
 * commits, with its extracted fields masked, under a new event id.
 */
export function notificationFor(
  policy: NotificationPolicy,
  source: NotificationSource,
): NewNotification {
  const { before, transition, cause, mask } = source;
  const { changes } = transition;
  const id = newId(transition.now);
  const type: NotificationType =
    cause.kind === "settled" ? `instance.${cause.status}` : "instance.attention";
  const context = changes.context ?? before.context;
  const lastError = changes.lastError !== undefined ? changes.lastError : before.lastError;
  const payload: NotificationPayload = {
    id,
    type,
    occurredAt: new Date(transition.now).toISOString(),
    instance: {
      id: before.id,
      channel: before.channel,
      behavior: before.behavior,
      businessKey: before.businessKey,
      product: before.product,
      status: changes.status ?? before.status,
      step: changes.step ?? before.step,
      version: transition.expectedVersion + 1,
    },
    ...(cause.kind === "attention" ? { reason: cause.reason } : {}),
    result: mask ? (mask(context) as Record<string, unknown>) : null,
    // The upstream is another trust domain: the operators' text may name the funder's address or
    // a key's path, so it reads the public form.
    error: lastError ? publicError(lastError) : null,
  };
  return {
    id,
    instanceId: before.id,
    type,
    payload,
    target: policy.target(before),
    createdAt: transition.now,
    nextAttemptAt: transition.now,
  };
}

/** The transition with the notification its events call for, if the engine writes any. */
export function withNotification(
  policy: NotificationPolicy | undefined,
  transition: Transition,
  before: InstanceRecord,
  events: readonly EngineEvent[],
  mask: ((value: unknown) => unknown) | undefined,
): Transition {
  if (policy === undefined) return transition;
  const cause = notificationCause(policy, events);
  if (cause === undefined) return transition;
  return {
    ...transition,
    notification: notificationFor(policy, { before, transition, cause, mask }),
  };
}
