import { isCapflowError, toCapflowError } from "../errors.ts";
import { withNotification } from "../outbox/notification-for.ts";
import { type InstanceRecord, isSettled, type Transition } from "../ports/instance-store.ts";
import type { Lock, LockProvider } from "../ports/lock-provider.ts";
import { commitWithFailover } from "../routing/failover.ts";
import { applyDecision, type CommittableDecision } from "./apply-decision.ts";
import type { EngineCore } from "./engine-core.ts";
import type { EngineEvent } from "./engine-events.ts";
import type { RuntimeCache } from "./runtime-cache.ts";
import { StepRun } from "./step-run.ts";
import { executeStep } from "./steps/execute-step.ts";
import { inSpan, inStepSpan } from "./tracing.ts";

/** What running due instances needs besides the engine core. */
export interface DueRunnerDeps {
  core: EngineCore;
  runtime: RuntimeCache;
  locks: LockProvider;
  lockTtlMs: number;
  /** Steps run back to back in one claim when the next one is due at once. */
  maxChainedSteps: number;
}

export interface RunDueOptions {
  /** Instances to claim at most. Default 16. */
  limit?: number;
  /** Only these channels (a worker dedicated to some funders). */
  channels?: string[];
  /** Aborted when the worker stops: a chain ends after its current step. */
  signal?: AbortSignal;
}

/** A failure that may clear by itself (store, secret store briefly away) is tried again after this. */
const failureBackoffMs = 30_000;

/**
 * Claims due instances and runs them. Returns how many it ran: instances whose lock could not be
 * taken (held elsewhere, or the lock service is down) are given back and not counted, so a
 * worker loop backs off instead of spinning on them.
 */
export async function runDue(deps: DueRunnerDeps, options: RunDueOptions = {}): Promise<number> {
  const claimed = await claimDue(deps, options);
  const ran = await Promise.all(claimed.map((record) => runClaimed(deps, record, options.signal)));
  return ran.filter(Boolean).length;
}

/** Claims up to `limit` due instances for this worker, leased for the engine's lease time. */
export async function claimDue(
  deps: DueRunnerDeps,
  options: Omit<RunDueOptions, "signal"> = {},
): Promise<InstanceRecord[]> {
  const { core } = deps;
  // Claiming an instance of a channel whose bulkhead is full here would only commit a refusal
  // (a rewrite of its row and of each of its index entries): leave it to a worker with room.
  const full = core.flow.fullChannels();
  return core.store.claimDue({
    owner: core.workerId,
    now: core.clock.now(),
    leaseMs: core.leaseMs,
    limit: options.limit ?? 16,
    ...(options.channels ? { channels: options.channels } : {}),
    ...(full.length > 0 ? { skipChannels: full } : {}),
  });
}

/** What `runClaimed` tells its caller on the way. */
export interface RunClaimedHooks {
  /**
   * The instance's last commit of this run has begun: nothing but the database is awaited from
   * here. A worker may free the instance's slot for other work then, rather than hold it through
   * the commit's flush, and returns true if it did: the run then ends with that commit, even if
   * the commit left the instance due (no further step, no partner call outside a slot).
   */
  committing?: () => boolean | undefined;
}

/** Runs one claimed instance under its lock: its due step, and the next ones while due at once. */
export async function runClaimed(
  deps: DueRunnerDeps,
  claimed: InstanceRecord,
  stopping?: AbortSignal,
  hooks?: RunClaimedHooks,
): Promise<boolean> {
  const { core } = deps;
  let lock: Lock;
  try {
    lock = await deps.locks.acquire(`instance:${claimed.id}`, { ttlMs: deps.lockTtlMs });
  } catch (error) {
    // Another worker holds it (or the lock service is down, or misconfigured): give the claim
    // back for later. Not thrown: the batch's other instances are still running.
    await core.store.releaseLease(claimed.id, core.workerId).catch(() => {});
    if (!isCapflowError(error, "LOCK_NOT_ACQUIRED") && !isCapflowError(error, "LOCK_UNAVAILABLE"))
      core.emit({
        type: "step.failed",
        instanceId: claimed.id,
        step: claimed.step,
        errorClass: "unexpected",
        code: toCapflowError(error).code,
        willRetry: true,
      });
    return false;
  }
  try {
    let record: InstanceRecord | undefined = claimed;
    for (let chained = 0; record && chained < deps.maxChainedSteps; chained++) {
      if (chained > 0 && stopping?.aborted) {
        // The worker stops: the rest of the chain goes back to the queue now, not after the
        // lease the last commit kept.
        await core.store.releaseLease(record.id, core.workerId).catch(() => {});
        break;
      }
      const remaining = deps.maxChainedSteps - chained - 1;
      const current: InstanceRecord = record;
      record = await inStepSpan(current, () =>
        runStep(deps, current, lock.signal, remaining > 0, hooks),
      );
      if (
        record &&
        (record.nextRunAt === null ||
          record.nextRunAt > core.clock.now() ||
          isSettled(record.status))
      ) {
        record = undefined;
      }
    }
  } catch (error) {
    // A failure no step handles (a bug, the store down): the instance keeps its step; record why
    // if the store lets us, and leave it to its lease to come back. Other instances go on.
    // Without the lock the instance may be another worker's now: write nothing then.
    try {
      if (lock.signal.aborted) throw error;
      const current = await core.store.getInstance(claimed.id);
      if (current && !isSettled(current.status)) await recordFailure(core, current, error, false);
    } catch {
      // The store is away too: the lease brings the instance back.
    }
  } finally {
    await lock.release().catch(() => {});
  }
  return true;
}

/** Runs the current step once; returns the committed record if the worker may go on with it. */
async function runStep(
  deps: DueRunnerDeps,
  record: InstanceRecord,
  signal: AbortSignal,
  mayChain: boolean,
  hooks?: RunClaimedHooks,
): Promise<InstanceRecord | undefined> {
  const { core, runtime } = deps;
  const startedAt = core.clock.now();
  let run: StepRun;
  try {
    const [channel, behavior] = await Promise.all([
      runtime.channel(record.channel, record.account),
      runtime.behavior(record.channel, record.behavior, record.behaviorVersion),
    ]);
    run = new StepRun(core, record, channel, behavior, signal);
  } catch (error) {
    // Definitions or keys cannot be loaded. A passing outage backs off; anything else parks the
    // instance until an operator fixes the definition or key and retries it.
    const failure = toCapflowError(error);
    await recordFailure(core, record, failure, !failure.retryable).catch(() => undefined);
    return undefined;
  }

  try {
    const decision = await executeStep(run);
    if (decision.type === "stop") return undefined;
    const applied = applyDecision(run, decision, {
      startedAt,
      now: core.clock.now(),
      mayChain,
      leaseMs: core.leaseMs,
    });
    const { events } = applied;
    // The upstream's notification, if the change calls for one, commits with it or not at all.
    const transition = withNotification(
      core.notifications,
      applied.transition,
      run.record,
      events,
      (value) => run.mask(value),
    );
    const failover =
      decision.type === "leave"
        ? await commitWithFailover(deps, run, decision.to, transition, {
            events,
            notify: (parked, parkedEvents) =>
              withNotification(core.notifications, parked, run.record, parkedEvents, (value) =>
                run.mask(value),
              ),
          })
        : undefined;
    // Without `keepLease` the run ends with this commit: only the database is awaited now.
    const slotGiven =
      failover === undefined && transition.keepLease !== true && hooks?.committing?.() === true;
    const next =
      failover?.record ??
      (await inSpan("capflow.commit", { "capflow.outcome": decision.outcome ?? "" }, () =>
        core.store.commitTransition(transition),
      ));
    // A parked failover settled the step otherwise than its transition said.
    const finished = failover?.events
      ? { ...transition, changes: { ...transition.changes, status: failover.record.status } }
      : transition;
    core.emit(stepFinished(run, decision, finished, startedAt, core.clock.now()));
    for (const event of failover?.events ?? events) core.emit(event);
    await failover?.emit();
    // The worker gave the slot away: even if the instance is due by now (a callback stored
    // meanwhile, a short retry whose commit took longer than its wait), it goes no further
    // here. A claim takes it again, with a lease and a slot.
    return slotGiven ? undefined : next;
  } catch (error) {
    // Someone else moved the instance (or our lock is gone): we lost it; make no further call.
    if (isCapflowError(error, "STORE_CONFLICT") || signal.aborted) {
      core.emit({ type: "ownership.lost", instanceId: record.id, step: record.step });
      return undefined;
    }
    throw error;
  }
}

/** What the step came to, for metrics: channel, interface, outcome, the status it left. */
function stepFinished(
  run: StepRun,
  decision: CommittableDecision,
  transition: Transition,
  startedAt: number,
  now: number,
): EngineEvent {
  const { step } = run;
  const iface =
    step.kind === "call" || step.kind === "poll"
      ? step.interface
      : step.kind === "callback"
        ? step.poll?.interface
        : undefined;
  return {
    type: "step.finished",
    instanceId: run.record.id,
    channel: run.record.channel,
    behavior: run.record.behavior,
    step: run.stepCode,
    kind: step.kind,
    ...(iface === undefined ? {} : { interface: iface }),
    outcome: decision.outcome ?? decision.event,
    status: transition.changes.status ?? run.record.status,
    durationMs: now - startedAt,
  };
}

/**
 * Records a failure no step executor decided on, with compare-and-set, leaving the instance at
 * its step. A failure that may clear by itself backs off; one that needs a person (a broken
 * definition, a missing key) parks the instance.
 */
async function recordFailure(
  core: EngineCore,
  record: InstanceRecord,
  error: unknown,
  park: boolean,
): Promise<void> {
  const failure = toCapflowError(error, {
    channel: record.channel,
    behavior: record.behavior,
    step: record.step,
    instance: record.id,
  });
  const now = core.clock.now();
  const stored = { code: failure.code, message: failure.message };
  const transition: Transition = {
    instanceId: record.id,
    expectedVersion: record.version,
    now,
    changes: {
      lastError: stored,
      nextRunAt: park || record.nextRunAt === null ? null : now + failureBackoffMs,
    },
    log: {
      step: record.step,
      attempt: record.attempt,
      event: "error",
      outcome: failure.code,
      error: stored,
      startedAt: now,
      durationMs: 0,
    },
  };
  // Parked: the upstream hears that it needs a person. Masking rules may be what failed to load,
  // so the notification carries no extracted fields.
  const attention = [
    { type: "instance.attention", instanceId: record.id, step: record.step, reason: "parked" },
  ] as const;
  await core.store.commitTransition(
    park
      ? withNotification(core.notifications, transition, record, attention, undefined)
      : transition,
  );
  core.emit(
    park
      ? {
          type: "instance.attention",
          instanceId: record.id,
          step: record.step,
          reason: "parked",
          code: failure.code,
        }
      : {
          type: "step.failed",
          instanceId: record.id,
          step: record.step,
          errorClass: "unexpected",
          code: failure.code,
          willRetry: true,
        },
  );
}
