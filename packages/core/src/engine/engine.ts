import { createHash, randomUUID } from "node:crypto";
import { canonicalJson } from "../canonical-json.ts";
import {
  type CryptoHandlerRegistry,
  createCryptoHandlerRegistry,
} from "../crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../crypto/secret-resolvers.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import { InProcessLimiter } from "../memory/in-process-limiter.ts";
import { InProcessLockProvider } from "../memory/in-process-lock-provider.ts";
import { systemClock } from "../memory/system-clock.ts";
import type { ProcessorRegistry } from "../message/processor-registry.ts";
import type { Clock } from "../ports/clock.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import {
  type BusinessKeyRef,
  type InstanceChanges,
  type InstanceFilter,
  type InstanceRecord,
  type InstanceStore,
  isSettled,
  type NewStepLogEntry,
  type StepLogEntry,
} from "../ports/instance-store.ts";
import type { Limiter } from "../ports/limiter.ts";
import type { LockProvider } from "../ports/lock-provider.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import type { Transport } from "../ports/transport.ts";
import { FlowControl } from "../runtime/flow-control/flow-control.ts";
import { UndiciTransport } from "../transport/undici-transport.ts";
import type { MachineSnapshot } from "./behavior-machine.ts";
import type { EngineCore } from "./engine-core.ts";
import type { EngineEvent, EngineEventListener } from "./engine-events.ts";
import { entrySchedule } from "./entry-schedule.ts";
import { newId, newSerial } from "./new-id.ts";
import {
  type CallbackAcknowledgement,
  type InboundHttpRequest,
  receiveCallback,
} from "./receive-callback.ts";
import { RuntimeCache } from "./runtime-cache.ts";
import { StepRun } from "./step-run.ts";
import { executeCallStep } from "./steps/call-step.ts";
import { executeCallbackStep } from "./steps/callback-step.ts";
import { executeDecideStep, executeDelayStep } from "./steps/decide-step.ts";
import { executePollStep } from "./steps/poll-step.ts";
import type { StepDecision } from "./steps/step-decision.ts";
import { type SweepInboxOptions, type SweepInboxResult, sweepInbox } from "./sweep-inbox.ts";

export interface EngineOptions {
  store: InstanceStore;
  definitions: DefinitionSource;
  processors: ProcessorRegistry;
  cryptoHandlers?: CryptoHandlerRegistry;
  secrets?: SecretResolver;
  transport?: Transport;
  locks?: LockProvider;
  limiter?: Limiter;
  flowControl?: FlowControl;
  clock?: Clock;
  /** Names this worker in leases. Default: a random id. */
  workerId?: string;
  /** How long a claim is leased. A crashed worker's instances are resumed after it. Default 60 s. */
  leaseMs?: number;
  /** TTL of instance locks (extended while held). Default 30 s. */
  lockTtlMs?: number;
  /**
   * Keep the sealed request and response bodies in step logs (for disputes). Default false. They
   * are kept as sent, not masked: turn this on only where step logs are protected like the
   * instances' own data (a channel without encryption sends personal data in clear).
   */
  keepRawMessages?: boolean;
  /** Steps run back to back in one claim when the next one is due at once. Default 8. */
  maxChainedSteps?: number;
  onEvent?: EngineEventListener;
  /** Called when an event listener throws. Default: ignored. */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
}

export interface StartRequest {
  channel: string;
  behavior: string;
  businessKey: string;
  input: Record<string, unknown>;
}

/** Who did an operator action and why; recorded in the history. */
export interface Actor {
  who: string;
  why: string;
}

/**
 * The engine: starts instances, runs their due steps, takes callbacks, and lets operators step
 * in. It keeps no state of its own between calls: every decision is read from and committed to
 * the store, so any number of engines (workers) can share one store.
 */
export class Engine {
  readonly #core: EngineCore;
  readonly #store: InstanceStore;
  readonly #runtime: RuntimeCache;
  readonly #locks: LockProvider;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #lockTtlMs: number;
  readonly #maxChained: number;
  readonly #ownsTransport: boolean;
  readonly #transport: Transport;

  constructor(options: EngineOptions) {
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    this.#store = options.store;
    this.#locks = options.locks ?? new InProcessLockProvider({ clock });
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#lockTtlMs = options.lockTtlMs ?? 30_000;
    this.#maxChained = options.maxChainedSteps ?? 8;
    this.#ownsTransport = options.transport === undefined;
    this.#transport = options.transport ?? new UndiciTransport();
    const listener = options.onEvent;
    const onListenerError = options.onListenerError;
    this.#core = {
      store: options.store,
      processors: options.processors,
      transport: this.#transport,
      flow:
        options.flowControl ??
        new FlowControl({ limiter: options.limiter ?? new InProcessLimiter({ clock }), clock }),
      clock,
      workerId: options.workerId ?? `worker-${randomUUID().slice(0, 8)}`,
      leaseMs: this.#leaseMs,
      keepRawMessages: options.keepRawMessages ?? false,
      newSerial: (timeZone) => newSerial(clock.now(), timeZone),
      emit: (event) => {
        if (!listener) return;
        try {
          listener(event);
        } catch (error) {
          onListenerError?.(error, event);
        }
      },
    };
    this.#runtime = new RuntimeCache(
      options.definitions,
      options.cryptoHandlers ?? createCryptoHandlerRegistry(),
      options.secrets ?? createDefaultSecretResolver(),
      clock,
    );
  }

  get workerId(): string {
    return this.#core.workerId;
  }

  /**
   * Starts a behavior for a business record, or returns the instance already started for it.
   * Throws `INSTANCE_INPUT_MISMATCH` if that instance was started with different input.
   */
  async start(request: StartRequest): Promise<InstanceRecord> {
    const behavior = await this.#runtime.behavior(request.channel, request.behavior);
    const now = this.#clock.now();
    const snapshot = behavior.machine.initial(now);
    const initial = behavior.definition.steps[behavior.definition.initial]!;
    const schedule = entrySchedule(initial, now);
    const inputDigest = digestOf(request.input);
    const { instance, created } = await this.#store.createInstance({
      id: newId(now),
      channel: request.channel,
      behavior: request.behavior,
      businessKey: request.businessKey,
      behaviorVersion: behavior.version,
      inputDigest,
      input: request.input,
      step: behavior.definition.initial,
      status: schedule.status,
      context: {},
      snapshot,
      nextRunAt: schedule.nextRunAt,
      waitingFor: schedule.waitingFor,
      now,
    });
    if (!created && instance.inputDigest !== inputDigest) {
      throw new CapflowError(
        "INSTANCE_INPUT_MISMATCH",
        `${request.channel}/${request.behavior} was already started for business key ${request.businessKey} with different input; use a new business key or look up the existing instance ${instance.id}`,
        {
          context: { channel: request.channel, behavior: request.behavior, instance: instance.id },
        },
      );
    }
    if (created) {
      this.#core.emit({
        type: "instance.started",
        instanceId: instance.id,
        channel: instance.channel,
        behavior: instance.behavior,
        businessKey: instance.businessKey,
      });
    }
    return instance;
  }

  /**
   * Claims due instances and runs them. Returns how many it ran: instances whose lock could not be
   * taken (held elsewhere, or the lock service is down) are given back and not counted, so a
   * worker loop backs off instead of spinning on them.
   */
  async runDue(
    options: {
      limit?: number;
      channels?: string[];
      /** Aborted when the worker stops: a chain ends after its current step. */
      signal?: AbortSignal;
    } = {},
  ): Promise<number> {
    const claimed = await this.#store.claimDue({
      owner: this.#core.workerId,
      now: this.#clock.now(),
      leaseMs: this.#leaseMs,
      limit: options.limit ?? 16,
      ...(options.channels ? { channels: options.channels } : {}),
    });
    const ran = await Promise.all(
      claimed.map((record) => this.#runClaimed(record, options.signal)),
    );
    return ran.filter(Boolean).length;
  }

  async #runClaimed(claimed: InstanceRecord, stopping?: AbortSignal): Promise<boolean> {
    let lock: Awaited<ReturnType<LockProvider["acquire"]>>;
    try {
      lock = await this.#locks.acquire(`instance:${claimed.id}`, { ttlMs: this.#lockTtlMs });
    } catch (error) {
      // Another worker holds it (or the lock service is down, or misconfigured): give the claim
      // back for later. Not thrown: the batch's other instances are still running.
      await this.#store.releaseLease(claimed.id, this.#core.workerId).catch(() => {});
      if (!isCapflowError(error, "LOCK_NOT_ACQUIRED") && !isCapflowError(error, "LOCK_UNAVAILABLE"))
        this.#core.emit({
          type: "step.failed",
          instanceId: claimed.id,
          step: claimed.step,
          errorClass: "unexpected",
          code: asError(error).code,
          willRetry: true,
        });
      return false;
    }
    try {
      let record: InstanceRecord | undefined = claimed;
      for (let chained = 0; record && chained < this.#maxChained; chained++) {
        if (chained > 0 && stopping?.aborted) {
          // The worker stops: the rest of the chain goes back to the queue now, not after the
          // lease the last commit kept.
          await this.#store.releaseLease(record.id, this.#core.workerId).catch(() => {});
          break;
        }
        const remaining = this.#maxChained - chained - 1;
        record = await this.#runStep(record, lock.signal, remaining > 0);
        if (
          record &&
          (record.nextRunAt === null ||
            record.nextRunAt > this.#clock.now() ||
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
        const current = await this.#store.getInstance(claimed.id);
        if (current && !isSettled(current.status)) await this.#recordFailure(current, error, false);
      } catch {
        // The store is away too: the lease brings the instance back.
      }
    } finally {
      await lock.release().catch(() => {});
    }
    return true;
  }

  /**
   * Records a failure no step executor decided on, with compare-and-set, leaving the instance at
   * its step. A failure that may clear by itself (a database or secret store briefly away) backs
   * off; one that needs a person (a broken definition, a missing key) parks the instance.
   */
  async #recordFailure(record: InstanceRecord, error: unknown, park: boolean): Promise<void> {
    const failure = asError(error);
    const now = this.#clock.now();
    const stored = { code: failure.code, message: failure.message };
    await this.#store.commitTransition({
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
    });
    if (park) {
      this.#core.emit({
        type: "instance.attention",
        instanceId: record.id,
        step: record.step,
        reason: "parked",
        code: failure.code,
      });
    } else {
      this.#core.emit({
        type: "step.failed",
        instanceId: record.id,
        step: record.step,
        errorClass: "unexpected",
        code: failure.code,
        willRetry: true,
      });
    }
  }

  /** Runs the current step once; returns the committed record if the worker may go on with it. */
  async #runStep(
    record: InstanceRecord,
    signal: AbortSignal,
    mayChain: boolean,
  ): Promise<InstanceRecord | undefined> {
    const startedAt = this.#clock.now();
    let run: StepRun;
    try {
      const [channel, behavior] = await Promise.all([
        this.#runtime.channel(record.channel),
        this.#runtime.behavior(record.channel, record.behavior, record.behaviorVersion),
      ]);
      run = new StepRun(this.#core, record, channel, behavior, signal);
    } catch (error) {
      // Definitions or keys cannot be loaded. A passing outage backs off; anything else parks the
      // instance until an operator fixes the definition or key and retries it.
      const failure = asError(error);
      await this.#recordFailure(record, failure, !failure.retryable).catch(() => undefined);
      return undefined;
    }

    let decision: StepDecision;
    try {
      decision = await this.#decide(run);
    } catch (error) {
      if (isCapflowError(error, "STORE_CONFLICT") || signal.aborted) {
        this.#core.emit({ type: "ownership.lost", instanceId: record.id, step: record.step });
        return undefined;
      }
      throw error;
    }
    if (decision.type === "stop") return undefined;
    try {
      return await this.#apply(run, decision, startedAt, mayChain);
    } catch (error) {
      if (isCapflowError(error, "STORE_CONFLICT")) {
        this.#core.emit({ type: "ownership.lost", instanceId: record.id, step: record.step });
        return undefined;
      }
      throw error;
    }
  }

  async #decide(run: StepRun): Promise<StepDecision> {
    const step = run.step;
    switch (step.kind) {
      case "call":
        return executeCallStep(run, step);
      case "poll":
        return executePollStep(run, step);
      case "callback":
        return executeCallbackStep(run, step);
      case "decide":
        return executeDecideStep(run, step);
      case "delay":
        return executeDelayStep(run, step);
      case "terminal":
        return { type: "stop", reason: "terminal" };
    }
  }

  /** Turns a decision into one compare-and-set commit, then tells listeners. */
  async #apply(
    run: StepRun,
    decision: Exclude<StepDecision, { type: "stop" }>,
    startedAt: number,
    mayChain: boolean,
  ): Promise<InstanceRecord> {
    const now = this.#clock.now();
    const from = run.record;
    const error = decision.error
      ? { code: decision.error.code, message: decision.error.message }
      : undefined;
    const context =
      decision.fields && Object.keys(decision.fields).length > 0
        ? { ...from.context, [run.stepCode]: decision.fields }
        : undefined;
    const base: NewStepLogEntry = {
      step: run.stepCode,
      attempt: from.attempt,
      event: decision.event,
      startedAt: decision.log?.startedAt ?? startedAt,
      durationMs: decision.log?.durationMs ?? now - startedAt,
    };
    if (decision.outcome !== undefined) base.outcome = decision.outcome;
    if (decision.log?.request !== undefined) base.request = decision.log.request;
    if (decision.log?.response !== undefined) base.response = decision.log.response;
    if (decision.log?.raw !== undefined) base.raw = decision.log.raw;
    if (error) base.error = error;

    if (decision.type === "leave") {
      const target = run.behavior.definition.steps[decision.to]!;
      const snapshot = run.behavior.machine.advance(run.snapshot, decision.to, now);
      const schedule = entrySchedule(target, now);
      const next = await this.#store.commitTransition({
        instanceId: from.id,
        expectedVersion: from.version,
        now,
        changes: {
          step: decision.to,
          status: schedule.status,
          snapshot,
          attempt: 0,
          nextRunAt: schedule.nextRunAt,
          waitingFor: schedule.waitingFor,
          inFlight: null,
          lastError: error ?? null,
          ...(context ? { context } : {}),
        },
        log: Object.assign(base, {
          fromStep: run.stepCode,
          toStep: decision.to,
          fromStatus: from.status,
          toStatus: schedule.status,
        }),
        ...(decision.consumedInbox?.length ? { consumedInbox: decision.consumedInbox } : {}),
        keepLease: mayChain && schedule.nextRunAt !== null && schedule.nextRunAt <= now,
        leaseUntil: now + this.#leaseMs,
      });
      this.#core.emit({
        type: "step.succeeded",
        instanceId: from.id,
        step: run.stepCode,
        to: decision.to,
        outcome: decision.outcome ?? decision.via,
      });
      if (isSettled(next.status)) {
        this.#core.emit({
          type: "instance.settled",
          instanceId: next.id,
          status: next.status,
          step: next.step,
        });
        if (next.status === "manual")
          this.#core.emit({
            type: "instance.attention",
            instanceId: next.id,
            step: next.step,
            reason: "manual",
          });
      }
      return next;
    }

    const next = await this.#store.commitTransition({
      instanceId: from.id,
      expectedVersion: from.version,
      now,
      changes: {
        status: decision.status,
        attempt: decision.attempt,
        nextRunAt: decision.nextRunAt,
        // Only a callback step's wait is woken by its callback; a retry or a poll keeps its time.
        waitingFor:
          decision.status === "waiting" && run.step.kind === "callback" ? run.step.callback : null,
        inFlight: decision.inFlight,
        ...(error ? { lastError: error } : {}),
        ...(context ? { context } : {}),
      },
      log: {
        ...base,
        attempt: decision.attempt,
        fromStatus: from.status,
        toStatus: decision.status,
      },
      ...(decision.consumedInbox?.length ? { consumedInbox: decision.consumedInbox } : {}),
    });
    if (decision.error) {
      this.#core.emit({
        type: "step.failed",
        instanceId: from.id,
        step: run.stepCode,
        errorClass: decision.outcome ?? "error",
        code: decision.error.code,
        willRetry: decision.nextRunAt !== null,
      });
    }
    // Still retrying, but failing again and again: worth a look before the schedule runs out.
    const attention =
      decision.attention ??
      (error && decision.attempt >= repeatedErrorsThreshold ? "repeated-errors" : undefined);
    if (attention) {
      this.#core.emit({
        type: "instance.attention",
        instanceId: from.id,
        step: run.stepCode,
        reason: attention,
        ...(error ? { code: error.code } : {}),
      });
    }
    return next;
  }

  /**
   * Takes an inbound callback: verifies and opens it, stores it in the inbox (deduplicated),
   * wakes the instance waiting for it, and returns the acknowledgement the partner expects —
   * every time it arrives, duplicates included.
   */
  async receiveCallback(
    channel: string,
    callback: string,
    request: InboundHttpRequest,
  ): Promise<CallbackAcknowledgement> {
    const runtime = await this.#runtime.channel(channel);
    return receiveCallback(this.#core, runtime, callback, request);
  }

  /**
   * Records notifications that came after their instance settled in its history, and raises
   * attention for those that contradict it (see `sweepInbox`). `Worker` runs it every minute.
   */
  async sweepInbox(options?: SweepInboxOptions): Promise<SweepInboxResult> {
    return sweepInbox(
      this.#core,
      async (instance) => {
        const runtime = await this.#runtime.behavior(
          instance.channel,
          instance.behavior,
          instance.behaviorVersion,
        );
        return runtime.definition;
      },
      options,
    );
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    return this.#store.getInstance(id);
  }

  async findInstance(key: BusinessKeyRef): Promise<InstanceRecord | undefined> {
    return this.#store.findInstance(key);
  }

  async listInstances(filter: InstanceFilter = {}): Promise<InstanceRecord[]> {
    return this.#store.listInstances(filter);
  }

  async history(id: string): Promise<StepLogEntry[]> {
    return this.#store.history(id);
  }

  /** Makes the instance due now (after fixing what parked it). Clears nothing else. */
  async retryNow(id: string, actor: Actor): Promise<InstanceRecord> {
    return this.#operate(id, actor, "retryNow", (record) => {
      if (isSettled(record.status)) throw settled(record, "retry");
      return {
        changes: {
          nextRunAt: this.#clock.now(),
          status: record.status === "waiting" ? "waiting" : "active",
        },
      };
    });
  }

  /** Moves the instance to any step, even a settled one (e.g. out of manual review). */
  async moveTo(id: string, step: string, actor: Actor): Promise<InstanceRecord> {
    const record = await this.#mustGet(id);
    const behavior = await this.#runtime.behavior(
      record.channel,
      record.behavior,
      record.behaviorVersion,
    );
    return this.#operate(id, actor, `moveTo:${step}`, (current) => {
      const now = this.#clock.now();
      const snapshot = behavior.machine.moveTo(current.snapshot as MachineSnapshot, step, now);
      const schedule = entrySchedule(behavior.definition.steps[step]!, now);
      return {
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
  }

  /** Cancels an unsettled instance. A call possibly in flight is not undone at the partner. */
  async cancel(id: string, actor: Actor): Promise<InstanceRecord> {
    return this.#operate(id, actor, "cancel", (record) => {
      if (isSettled(record.status)) throw settled(record, "cancel");
      return { changes: { status: "cancelled", nextRunAt: null, waitingFor: null } };
    });
  }

  async close(): Promise<void> {
    if (this.#ownsTransport) await this.#transport.close();
  }

  async #operate(
    id: string,
    actor: Actor,
    action: string,
    change: (record: InstanceRecord) => { changes: InstanceChanges; toStep?: string },
  ): Promise<InstanceRecord> {
    for (let attempt = 0; ; attempt++) {
      const record = await this.#mustGet(id);
      const { changes, toStep } = change(record);
      const now = this.#clock.now();
      try {
        const next = await this.#store.commitTransition({
          instanceId: id,
          expectedVersion: record.version,
          now,
          changes,
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
        });
        if (isSettled(next.status) && !isSettled(record.status)) {
          this.#core.emit({
            type: "instance.settled",
            instanceId: id,
            status: next.status,
            step: next.step,
          });
        }
        return next;
      } catch (error) {
        // A worker committed in between: re-read and apply the action to the new state.
        if (!isCapflowError(error, "STORE_CONFLICT") || attempt >= 5) throw error;
      }
    }
  }

  async #mustGet(id: string): Promise<InstanceRecord> {
    const record = await this.#store.getInstance(id);
    if (!record)
      throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}`, {
        context: { instance: id },
      });
    return record;
  }
}

const failureBackoffMs = 30_000;
const repeatedErrorsThreshold = 3;

export function createEngine(options: EngineOptions): Engine {
  return new Engine(options);
}

function digestOf(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

function settled(record: InstanceRecord, action: string): CapflowError {
  return new CapflowError(
    "INSTANCE_SETTLED",
    `instance ${record.id} is settled (${record.status}); cannot ${action} it. Use moveTo to reopen it deliberately`,
    { context: { instance: record.id, step: record.step } },
  );
}

function asError(error: unknown): CapflowError {
  return isCapflowError(error)
    ? error
    : new CapflowError("CONFIG_INVALID", String((error as Error)?.message ?? error), {
        cause: error,
      });
}
