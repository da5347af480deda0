import type { ProductDefinition } from "../definition/product-types.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import { withNotification } from "../outbox/notification-for.ts";
import { resultMasker } from "../outbox/result-masker.ts";
import {
  type InstanceChanges,
  type InstanceRecord,
  isSettled,
  type NewStepLogEntry,
  type Transition,
} from "../ports/instance-store.ts";
import type { QuotaHoldState, QuotaReservation } from "../ports/routing.ts";
import { quotaHoldChange } from "../routing/quota-effect.ts";
import { reopenedQuotaReservations, reopenRefused } from "../routing/reopened-quotas.ts";
import type { MachineSnapshot } from "./behavior-machine.ts";
import type { EngineCore } from "./engine-core.ts";
import type { EngineEvent } from "./engine-events.ts";
import { entrySchedule } from "./entry-schedule.ts";
import { refuseIfFailedOver } from "./failover-successor.ts";
import { nonIdempotentCallStep, unsafeResendOnMove } from "./resend-on-move.ts";
import type { RuntimeCache } from "./runtime-cache.ts";

/** Who did an operator action and why; recorded in the history. */
export interface Actor {
  who: string;
  why: string;
}

/** The actor as the history entry records it. */
type LoggedActor = NonNullable<NewStepLogEntry["actor"]>;

/** Options of an operator action. */
export interface ActionOptions {
  /**
   * The version the operator saw: the action applies only to the instance still at that version,
   * else it fails with `STORE_CONFLICT` and changes nothing (what the operator decided on has
   * changed). Without it, the action is re-applied to the fresh state when a worker commits first.
   */
  expectedVersion?: number;
  /**
   * For a move back to the step of a non-idempotent call possibly in flight, or whose last
   * attempt's outcome no answer settled (e.g. its queries were used up into manual review): the
   * operator confirmed with the partner that it did not process that call, so it may be sent
   * again. The step then sends a new attempt with a new serial; the history keeps the old one.
   * Without it such a move fails with `INSTANCE_CALL_IN_FLIGHT` and changes nothing.
   */
  callNotProcessed?: boolean;
}

/** What an operator action changes on the instance as it read it. */
interface OperatorChange {
  changes: InstanceChanges;
  toStep?: string;
  quota?: QuotaHoldState;
  reopenQuotas?: QuotaReservation[];
}

/** How often an action is re-applied to a fresh read when a worker commits in between. */
const maxActionRetries = 5;

/**
 * What operators may do to an instance: make it due now, move it to a step, cancel it. Each is a
 * compare-and-set commit with a history row naming the actor, like any step.
 */
export class OperatorActions {
  constructor(
    private readonly core: EngineCore,
    private readonly runtime: RuntimeCache,
  ) {}

  /**
   * Makes the instance due now (after fixing what parked it). Clears nothing else. Refused for an
   * instance that failed over (`INSTANCE_FAILED_OVER`, engine/failover-successor.ts).
   */
  async retryNow(id: string, actor: Actor, options: ActionOptions = {}): Promise<InstanceRecord> {
    return this.#operate(id, actor, options, "retryNow", async (record) => {
      await refuseIfFailedOver(this.core.store, record, "retry");
      if (isSettled(record.status)) throw settledError(record, "retry");
      return {
        changes: {
          nextRunAt: this.core.clock.now(),
          status: record.status === "waiting" ? "waiting" : "active",
        },
      };
    });
  }

  /**
   * Moves the instance to any step of its pinned version, even out of a settled state. A move that
   * ends in another settled status (manual review to `succeeded`, `succeeded` to `failed`) notifies
   * the upstream in its commit and emits `instance.settled`. Refused for an instance that failed
   * over (`INSTANCE_FAILED_OVER`): its business goes on at its successor.
   */
  async moveTo(
    id: string,
    step: string,
    actor: Actor,
    options: ActionOptions = {},
  ): Promise<InstanceRecord> {
    const record = await this.mustGet(id);
    const [behavior, channel, product] = await Promise.all([
      this.runtime.behavior(record.channel, record.behavior, record.behaviorVersion),
      this.runtime.channelDefinition(record.channel),
      this.#routedProduct(record),
    ]);
    // Only a move to a call that must not be resent reads the history (its last attempt).
    const readsHistory = nonIdempotentCallStep(step, behavior.definition, channel) !== undefined;
    // The history keeps that the operator vouched for the resend, not only who and why.
    const logged: LoggedActor =
      options.callNotProcessed === true ? { ...actor, confirmed: "callNotProcessed" } : actor;
    const moved = this.#operate(id, logged, options, `moveTo:${step}`, async (current) => {
      await refuseIfFailedOver(this.core.store, current, "move");
      // Read after `current`: entries past its version are left out, and their commit makes
      // this one fail its compare-and-set, so the move is decided again on the fresh state.
      const history = readsHistory ? await this.core.store.history(id) : undefined;
      const resend = unsafeResendOnMove(current, step, behavior.definition, channel, history);
      if (resend !== undefined && options.callNotProcessed !== true) {
        throw new CapflowError("INSTANCE_CALL_IN_FLIGHT", resend, {
          context: { instance: id, step },
        });
      }
      const now = this.core.clock.now();
      const snapshot = behavior.machine.moveTo(current.snapshot as MachineSnapshot, step, now);
      const schedule = entrySchedule(behavior.definition.steps[step]!, now);
      const quota = quotaHoldChange(behavior.definition, current, {
        step,
        status: schedule.status,
      });
      const reopenQuotas =
        quota === "reserved"
          ? reopenedQuotaReservations({ record: current, product, channel, now })
          : undefined;
      return {
        ...(quota ? { quota } : {}),
        ...(reopenQuotas ? { reopenQuotas } : {}),
        changes: {
          step,
          snapshot,
          status: schedule.status,
          nextRunAt: schedule.nextRunAt,
          waitingFor: schedule.waitingFor,
          attempt: 0,
          inFlight: null,
          lastError: null,
        },
        toStep: step,
      };
    });
    return moved.catch((error: unknown) => {
      throw isCapflowError(error, "QUOTA_EXHAUSTED") ? reopenRefused(error, id, step) : error;
    });
  }

  /** Cancels an unsettled instance. A call possibly in flight is not undone at the partner. */
  async cancel(id: string, actor: Actor, options: ActionOptions = {}): Promise<InstanceRecord> {
    const found = await this.mustGet(id);
    const behavior = await this.runtime.behavior(
      found.channel,
      found.behavior,
      found.behaviorVersion,
    );
    return this.#operate(id, actor, options, "cancel", (record) => {
      if (isSettled(record.status)) throw settledError(record, "cancel");
      const quota = quotaHoldChange(behavior.definition, record, {
        step: record.step,
        status: "cancelled",
      });
      return {
        ...(quota ? { quota } : {}),
        changes: { status: "cancelled", nextRunAt: null, waitingFor: null },
      };
    });
  }

  /** The product a routed instance was started through, as defined now; undefined once gone. */
  async #routedProduct(record: InstanceRecord): Promise<ProductDefinition | undefined> {
    if (record.routing === null) return undefined;
    return this.runtime.product(record.routing.product).catch((error: unknown) => {
      if (isCapflowError(error, "DEFINITION_NOT_FOUND")) return undefined;
      throw error;
    });
  }

  /** The transition with the upstream's notification of the events it causes, if any. */
  async #withNotification(
    transition: Transition,
    record: InstanceRecord,
    events: readonly EngineEvent[],
  ): Promise<Transition> {
    if (!this.core.notifications || events.length === 0) return transition;
    const mask = await resultMasker(this.runtime, record);
    return withNotification(this.core.notifications, transition, record, events, mask);
  }

  async mustGet(id: string): Promise<InstanceRecord> {
    const record = await this.core.store.getInstance(id);
    if (!record)
      throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}`, {
        context: { instance: id },
      });
    return record;
  }

  async #operate(
    id: string,
    actor: LoggedActor,
    options: ActionOptions,
    action: string,
    change: (record: InstanceRecord) => OperatorChange | Promise<OperatorChange>,
  ): Promise<InstanceRecord> {
    for (let attempt = 0; ; attempt++) {
      const record = await this.mustGet(id);
      const expected = options.expectedVersion;
      if (expected !== undefined && record.version !== expected) throw movedError(record, expected);
      const { changes, toStep, quota, reopenQuotas } = await change(record);
      const now = this.core.clock.now();
      const transition: Transition = {
        instanceId: id,
        expectedVersion: record.version,
        now,
        changes,
        ...(quota ? { quota } : {}),
        ...(reopenQuotas ? { reopenQuotas } : {}),
        log: {
          step: record.step,
          attempt: record.attempt,
          event: "operator",
          outcome: action,
          fromStep: record.step,
          toStep: toStep ?? record.step,
          fromStatus: record.status,
          ...(changes.status ? { toStatus: changes.status } : {}),
          actor,
          startedAt: now,
          durationMs: 0,
        },
      };
      const events = settlementEvents(record, transition);
      try {
        const next = await this.core.store.commitTransition(
          await this.#withNotification(transition, record, events),
        );
        for (const event of events) this.core.emit(event);
        return next;
      } catch (error) {
        // A worker committed in between: re-read and apply the action to the new state, unless
        // the operator decided on the state it had (the re-read then refuses).
        if (!isCapflowError(error, "STORE_CONFLICT") || attempt >= maxActionRetries) throw error;
      }
    }
  }
}

/**
 * What an action that ends in a settled status other than the instance's own reports: settled,
 * and attention when a person must look (manual). Leaving manual review for `succeeded`, or
 * correcting `succeeded` to `failed`, is a settlement the upstream has not heard of, so it is
 * reported like the first one (a newer version). Reopening a settled instance (a move to a step
 * that runs again) and moves between running steps report nothing: the upstream hears of the
 * instance when it next settles.
 */
function settlementEvents(record: InstanceRecord, transition: Transition): EngineEvent[] {
  const status = transition.changes.status;
  if (status === undefined || !isSettled(status) || status === record.status) return [];
  const step = transition.changes.step ?? record.step;
  const settled: EngineEvent = { type: "instance.settled", instanceId: record.id, status, step };
  if (status !== "manual") return [settled];
  return [settled, { type: "instance.attention", instanceId: record.id, step, reason: "manual" }];
}

function movedError(record: InstanceRecord, expected: number): CapflowError {
  return new CapflowError(
    "STORE_CONFLICT",
    `instance ${record.id} is at version ${record.version}, not ${expected}: it changed since you looked (now ${record.status} at ${record.step}); look again and decide on what it is now`,
    { context: { instance: record.id, step: record.step } },
  );
}

function settledError(record: InstanceRecord, action: string): CapflowError {
  return new CapflowError(
    "INSTANCE_SETTLED",
    `instance ${record.id} is settled (${record.status}); cannot ${action} it. Use moveTo to reopen it deliberately`,
    { context: { instance: record.id, step: record.step } },
  );
}
