import type { BehaviorDefinition, MaskingRules } from "../definition/types.ts";
import { isCapflowError } from "../errors.ts";
import { maskFields } from "../message/mask.ts";
import { withNotification } from "../outbox/notification-for.ts";
import {
  type InboxEntry,
  type InstanceRecord,
  isSettled,
  type StaleInboxRequest,
  type Transition,
} from "../ports/instance-store.ts";
import type { CallbackPayload } from "./callback-payload.ts";
import type { EngineCore } from "./engine-core.ts";

export interface SweepInboxOptions {
  /**
   * Only notifications received at least this long ago: a younger one may still be waiting for
   * its instance to reach the callback step. Default 10 minutes.
   */
  olderThanMs?: number;
  /**
   * Notifications read per store query. Default 500. A sweep walks every page: notifications that
   * stay (unmatched, pending) must not hide late ones queued behind them.
   */
  pageSize?: number;
}

export interface SweepInboxResult {
  /** Late notifications recorded on their settled instance, agreeing with how it settled. */
  recorded: number;
  /** Late notifications contradicting how their instance settled: each raised attention. */
  conflicts: number;
  /** No instance listens for them (yet): left in the inbox for an operator or a later start. */
  unmatched: number;
  /** Their instance is still running: left for its callback step. */
  pending: number;
  /** Could not be examined (a definition or the store failed); left for the next sweep. */
  failed: number;
}

/** The code of the step-log error a contradicting late notification records. */
export const lateConflictCode = "CALLBACK_LATE_CONFLICT";

/**
 * Settles the inbox's leftovers: notifications no callback step consumed because their instance
 * settled first (by a poll, a query after a timeout, an operator). Each is recorded in the settled
 * instance's history and marked processed, in one compare-and-set commit that changes nothing
 * else: a settled instance never moves. A notification that contradicts the settled outcome (the
 * funder now says a disbursement failed, or succeeded after we gave up) raises
 * `instance.attention` with reason `late-notification`: money may have moved, and a person must
 * reconcile with the funder.
 */
export async function sweepInbox(
  core: EngineCore,
  behaviorOf: (instance: InstanceRecord) => Promise<BehaviorDefinition>,
  options: SweepInboxOptions = {},
): Promise<SweepInboxResult> {
  const result: SweepInboxResult = {
    recorded: 0,
    conflicts: 0,
    unmatched: 0,
    pending: 0,
    failed: 0,
  };
  const receivedBefore = core.clock.now() - (options.olderThanMs ?? 600_000);
  const limit = options.pageSize ?? 500;
  let after: StaleInboxRequest["after"];
  for (;;) {
    const page = await core.store.staleInbox({
      receivedBefore,
      limit,
      ...(after ? { after } : {}),
    });
    for (const entry of page) {
      try {
        const outcome = await sweepOne(core, behaviorOf, entry);
        if (outcome !== undefined) result[outcome]++;
      } catch {
        result.failed++;
      }
    }
    const last = page.at(-1);
    if (page.length < limit || last === undefined) return result;
    after = { receivedAt: last.receivedAt, id: last.id };
  }
}

async function sweepOne(
  core: EngineCore,
  behaviorOf: (instance: InstanceRecord) => Promise<BehaviorDefinition>,
  entry: InboxEntry,
): Promise<keyof SweepInboxResult | undefined> {
  const candidates = await core.store.listInstances({
    channel: entry.channel,
    businessKey: entry.businessKey,
  });
  const listening: InstanceRecord[] = [];
  for (const instance of candidates) {
    // Verified with another account's keys: not this instance's notification.
    if (instance.account !== entry.account) continue;
    if (listensTo(await behaviorOf(instance), entry.callback)) listening.push(instance);
  }
  if (listening.length === 0) return "unmatched";
  if (listening.some((instance) => !isSettled(instance.status))) return "pending";
  const latest = listening.reduce((a, b) => (b.updatedAt > a.updatedAt ? b : a));
  return recordLate(core, latest, entry, (await behaviorOf(latest)).masking);
}

function listensTo(behavior: BehaviorDefinition, callback: string): boolean {
  return Object.values(behavior.steps).some(
    (step) => step.kind === "callback" && step.callback === callback,
  );
}

/** Commits the notification into the instance's history; undefined when another sweep did. */
async function recordLate(
  core: EngineCore,
  instance: InstanceRecord,
  entry: InboxEntry,
  behaviorMasking: MaskingRules | undefined,
): Promise<"recorded" | "conflicts" | undefined> {
  const payload = entry.payload as CallbackPayload;
  const definitive = payload.outcome === "succeeded" || payload.outcome === "failed";
  const conflict = definitive && payload.outcome !== instance.status;
  const now = core.clock.now();
  const transition: Transition = {
    instanceId: instance.id,
    expectedVersion: instance.version,
    now,
    changes: {},
    consumedInbox: [entry.id],
    log: {
      step: instance.step,
      attempt: instance.attempt,
      event: "callback",
      outcome: `late:${payload.outcome}`,
      // Said outright: the entry records a notification, not a move.
      fromStatus: instance.status,
      toStatus: instance.status,
      response: {
        callback: entry.callback,
        receivedAt: entry.receivedAt,
        code: payload.code,
        // Masked with the channel's rules when stored; the behavior may name more fields.
        body: maskFields(payload.masked, behaviorMasking),
      },
      ...(conflict
        ? {
            error: {
              code: lateConflictCode,
              message: `${entry.callback} arrived after the instance settled ${instance.status} and reports ${payload.outcome} (code ${payload.code || "none"}); reconcile with the funder before acting on either`,
            },
          }
        : {}),
      startedAt: now,
      durationMs: 0,
    },
  };
  // A contradiction needs a person, and the upstream hears it with the commit that records it.
  const attention = conflict
    ? ([
        {
          type: "instance.attention",
          instanceId: instance.id,
          step: instance.step,
          reason: "late-notification",
        },
      ] as const)
    : [];
  try {
    await core.store.commitTransition(
      withNotification(core.notifications, transition, instance, attention, undefined),
    );
  } catch (error) {
    // Another worker's sweep took it first; its commit records the notification.
    if (isCapflowError(error, "STORE_CONFLICT")) return undefined;
    throw error;
  }
  if (!conflict) return "recorded";
  core.emit({
    type: "instance.attention",
    instanceId: instance.id,
    step: instance.step,
    reason: "late-notification",
    code: lateConflictCode,
  });
  return "conflicts";
}
