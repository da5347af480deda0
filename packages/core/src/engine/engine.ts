import { randomUUID } from "node:crypto";
import {
  type CryptoHandlerRegistry,
  createCryptoHandlerRegistry,
} from "../crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../crypto/secret-resolvers.ts";
import { CapflowError } from "../errors.ts";
import { InProcessLimiter } from "../memory/in-process-limiter.ts";
import { InProcessLockProvider } from "../memory/in-process-lock-provider.ts";
import { systemClock } from "../memory/system-clock.ts";
import type { ProcessorRegistry } from "../message/processor-registry.ts";
import { type NotificationOptions, notificationPolicy } from "../outbox/notification-for.ts";
import type { ChannelCalendar } from "../ports/channel-calendar.ts";
import type { Clock } from "../ports/clock.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import type {
  BusinessKeyRef,
  InstanceFilter,
  InstanceRecord,
  InstanceStore,
  StepLogEntry,
} from "../ports/instance-store.ts";
import type { Limiter } from "../ports/limiter.ts";
import type { LockProvider } from "../ports/lock-provider.ts";
import { isOutboxStore } from "../ports/outbox-store.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import type { Transport } from "../ports/transport.ts";
import { BusinessCalendar } from "../protection/calendar/business-calendar.ts";
import { FlowControl } from "../runtime/flow-control/flow-control.ts";
import { UndiciTransport } from "../transport/undici-transport.ts";
import { callInterface, type InterfaceAnswer, type InterfaceCall } from "./call-interface.ts";
import type { EngineCore } from "./engine-core.ts";
import type { EngineEvent, EngineEventListener } from "./engine-events.ts";
import {
  type MigrationOptions,
  type MigrationReport,
  type MigrationRequest,
  migrateInstances,
} from "./migrate-instances.ts";
import { newSerial } from "./new-id.ts";
import { type ActionOptions, type Actor, OperatorActions } from "./operator-actions.ts";
import { type RawMessageKeyring, rawMessageKeyHelp } from "./raw-message-keyring.ts";
import {
  type CallbackAcknowledgement,
  type InboundHttpRequest,
  receiveCallback,
} from "./receive-callback.ts";
import {
  claimDue,
  type DueRunnerDeps,
  type RunClaimedHooks,
  type RunDueOptions,
  runClaimed,
  runDue,
} from "./run-due.ts";
import { RuntimeCache } from "./runtime-cache.ts";
import { type StartRequest, startInstance } from "./start-instance.ts";
import { type SweepInboxOptions, type SweepInboxResult, sweepInbox } from "./sweep-inbox.ts";

export type { InterfaceAnswer, InterfaceCall } from "./call-interface.ts";
export type {
  MigrationMove,
  MigrationOptions,
  MigrationRefusal,
  MigrationReport,
  MigrationRequest,
  MoveKind,
  RefusalReason,
} from "./migrate-instances.ts";
export type { ActionOptions, Actor } from "./operator-actions.ts";
export type { RunClaimedHooks, RunDueOptions } from "./run-due.ts";
export type { ChannelStartRequest, ProductStartRequest, StartRequest } from "./start-instance.ts";

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
  /**
   * When channels take business (service windows, cut-off, holidays). Default: each channel's
   * `calendar` (`BusinessCalendar`, with the built-in holiday schedules); always open without one.
   */
  calendar?: ChannelCalendar;
  /** Names this worker in leases. Default: a random id. */
  workerId?: string;
  /** How long a claim is leased. A crashed worker's instances are resumed after it. Default 60 s. */
  leaseMs?: number;
  /** TTL of instance locks (extended while held). Default 30 s. */
  lockTtlMs?: number;
  /**
   * Keep the sealed request and response bodies in step logs (for disputes). Default false. They
   * are kept as sent, not masked, so they are encrypted with `rawMessageKeys`, which this option
   * requires (`RAW_MESSAGE_KEY_MISSING` otherwise).
   */
  keepRawMessages?: boolean;
  /**
   * The operator's keys that encrypt messages kept as sent and received (`keepRawMessages`, and
   * callbacks with `keepRawBody`): AES-256-GCM, the current key seals, any configured key opens.
   */
  rawMessageKeys?: RawMessageKeyring;
  /** Steps run back to back in one claim when the next one is due at once. Default 8. */
  maxChainedSteps?: number;
  /**
   * Where channels' private-key operations run (RSA signing, RSA-OAEP unwrapping; about 250 µs
   * each for RSA-2048): on libuv's thread pool (true, the default), so they use spare cores and
   * leave the event loop to other steps, or on the event loop (false). Each hand-off to the
   * thread pool costs 70–100 µs of CPU; where no core is spare (a worker sharing a small machine
   * with its database), false does the same work for less. Public-key operations always run on
   * the event loop.
   */
  cryptoThreadPool?: boolean;
  /**
   * Notify the upstream (transactional outbox): when an instance settles or needs attention, a
   * notification is written in the same commit as the change, for an `OutboxDispatcher` to
   * deliver. `true` takes the defaults. Default: off. The store must keep an outbox
   * (`OutboxStore`), as both built-in stores do.
   */
  notifications?: NotificationOptions | boolean;
  onEvent?: EngineEventListener;
  /** Called when an event listener throws. Default: ignored. */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
}

/**
 * The engine: starts instances, runs their due steps, takes callbacks, and lets operators step
 * in. It keeps no state of its own between calls: every decision is read from and committed to
 * the store, so any number of engines (workers) can share one store.
 *
 * A facade: starting is `start-instance.ts`, running due steps `run-due.ts` (with the pure
 * `apply-decision.ts` turning each step's decision into one compare-and-set commit), callbacks
 * `receive-callback.ts`, operator actions `operator-actions.ts`.
 */
export class Engine {
  readonly #core: EngineCore;
  readonly #runtime: RuntimeCache;
  readonly #due: DueRunnerDeps;
  readonly #operators: OperatorActions;
  readonly #ownsTransport: boolean;

  constructor(options: EngineOptions) {
    const clock = options.clock ?? systemClock;
    const listener = options.onEvent;
    const onListenerError = options.onListenerError;
    this.#ownsTransport = options.transport === undefined;
    const notifications =
      options.notifications === undefined || options.notifications === false
        ? undefined
        : notificationPolicy(options.notifications === true ? {} : options.notifications);
    if (notifications && !isOutboxStore(options.store)) {
      throw new CapflowError(
        "CONFIG_INVALID",
        "notifications need a store with an outbox (OutboxStore); use a built-in store or turn notifications off",
      );
    }
    if (options.keepRawMessages === true && options.rawMessageKeys === undefined) {
      throw new CapflowError(
        "RAW_MESSAGE_KEY_MISSING",
        `keepRawMessages keeps messages as sent, unmasked, so they are stored encrypted and need a key: ${rawMessageKeyHelp}`,
      );
    }
    this.#core = {
      store: options.store,
      processors: options.processors,
      transport: options.transport ?? new UndiciTransport(),
      flow:
        options.flowControl ??
        new FlowControl({ limiter: options.limiter ?? new InProcessLimiter({ clock }), clock }),
      clock,
      calendar: options.calendar ?? new BusinessCalendar({ definitions: options.definitions }),
      workerId: options.workerId ?? `worker-${randomUUID().slice(0, 8)}`,
      leaseMs: options.leaseMs ?? 60_000,
      keepRawMessages: options.keepRawMessages ?? false,
      ...(options.rawMessageKeys ? { rawMessageKeys: options.rawMessageKeys } : {}),
      ...(notifications ? { notifications } : {}),
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
      undefined,
      options.cryptoThreadPool ?? true,
    );
    this.#due = {
      core: this.#core,
      runtime: this.#runtime,
      locks: options.locks ?? new InProcessLockProvider({ clock }),
      lockTtlMs: options.lockTtlMs ?? 30_000,
      maxChainedSteps: options.maxChainedSteps ?? 8,
    };
    this.#operators = new OperatorActions(this.#core, this.#runtime);
  }

  get workerId(): string {
    return this.#core.workerId;
  }

  /**
   * Starts a behavior for a business record, or returns the instance already started for it.
   * Given a `product` instead of a channel, routing chooses the channel (eligibility, health,
   * quotas, weights), reserves the quotas with the instance, and records why in it; a second start
   * of the same business returns its newest instance. Throws `INSTANCE_INPUT_MISMATCH` if the
   * business was started with different input, `BUSINESS_KEY_TAKEN` if another upstream client
   * started it (`upstreamClient` set on both), `ROUTING_NO_CHANNEL` when no channel can take it.
   */
  async start(request: StartRequest): Promise<InstanceRecord> {
    return startInstance(this.#core, this.#runtime, request);
  }

  /**
   * Claims due instances and runs them. Returns how many it ran: instances whose lock could not be
   * taken (held elsewhere, or the lock service is down) are given back and not counted, so a
   * worker loop backs off instead of spinning on them.
   */
  async runDue(options: RunDueOptions = {}): Promise<number> {
    return runDue(this.#due, options);
  }

  /**
   * Claims up to `limit` due instances (leased to this engine's worker id) without running them:
   * for a worker that runs each claim in its own slot (`Worker`). Run each with `runClaimed`.
   */
  async claimDue(options: Omit<RunDueOptions, "signal"> = {}): Promise<InstanceRecord[]> {
    return claimDue(this.#due, options);
  }

  /**
   * Runs one instance `claimDue` returned: takes its lock, runs its due step and the next ones
   * while due at once, commits each. Returns false when the lock could not be taken (the claim is
   * given back). Never throws for a step's failure; `signal` ends a chain after its current step.
   * `hooks.committing` is called when what is left is the last commit of a step that gives the
   * lease up: the caller may count the instance as waiting on the database from then on, and
   * returns true if it did (freed its slot). The run then ends with that commit, even if the
   * instance is due again when it returns; otherwise it may go on to the instance's next step.
   */
  async runClaimed(
    claimed: InstanceRecord,
    signal?: AbortSignal,
    hooks?: RunClaimedHooks,
  ): Promise<boolean> {
    return runClaimed(this.#due, claimed, signal, hooks);
  }

  /**
   * Gives back an instance `claimDue` returned without running it (its lease ends now, so any
   * worker may claim it). Does nothing if the lease is no longer this engine's.
   */
  async releaseClaim(claimed: InstanceRecord): Promise<void> {
    await this.#due.core.store.releaseLease(claimed.id, this.#due.core.workerId);
  }

  /**
   * Takes an inbound callback: verifies and opens it, stores it in the inbox (deduplicated),
   * wakes the instance waiting for it, and returns the acknowledgement the partner expects —
   * every time it arrives, duplicates included. On a channel with accounts, `account` names the
   * one whose keys verify it (each account's notify URL names it); only that account's instance
   * applies it.
   */
  async receiveCallback(
    channel: string,
    callback: string,
    request: InboundHttpRequest,
    options: { account?: string } = {},
  ): Promise<CallbackAcknowledgement> {
    const runtime = await this.#runtime.channel(channel, options.account);
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

  /**
   * Calls a channel's interface outside any instance, as a step would (render, seal, calendar,
   * flow control, transport, open, decode, status table): a funder's statement download. Only
   * interfaces that are not marked `idempotent: false`; nothing is stored.
   */
  async callInterface(call: InterfaceCall): Promise<InterfaceAnswer> {
    return callInterface(this.#core, await this.#runtime.channel(call.channel), call);
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    return this.#core.store.getInstance(id);
  }

  async findInstance(key: BusinessKeyRef): Promise<InstanceRecord | undefined> {
    return this.#core.store.findInstance(key);
  }

  async listInstances(filter: InstanceFilter = {}): Promise<InstanceRecord[]> {
    return this.#core.store.listInstances(filter);
  }

  async history(id: string): Promise<StepLogEntry[]> {
    return this.#core.store.history(id);
  }

  /**
   * Makes the instance due now (after fixing what parked it). Clears nothing else. With
   * `expectedVersion`, only if the instance is still at that version (else `STORE_CONFLICT`).
   */
  async retryNow(id: string, actor: Actor, options?: ActionOptions): Promise<InstanceRecord> {
    return this.#operators.retryNow(id, actor, options);
  }

  /**
   * Moves the instance to any step of its pinned version, even out of a settled state. A move that
   * ends in another settled status (manual review to `succeeded`, `succeeded` to `failed`) notifies
   * the upstream in its commit and emits `instance.settled`.
   */
  async moveTo(
    id: string,
    step: string,
    actor: Actor,
    options?: ActionOptions,
  ): Promise<InstanceRecord> {
    return this.#operators.moveTo(id, step, actor, options);
  }

  /** Cancels an unsettled instance. A call possibly in flight is not undone at the partner. */
  async cancel(id: string, actor: Actor, options?: ActionOptions): Promise<InstanceRecord> {
    return this.#operators.cancel(id, actor, options);
  }

  /**
   * Moves the unsettled instances of one behavior version to another version: each instance's
   * step must exist in the target or be mapped; an instance a worker runs right now, or whose
   * call attempt may be in flight and would change step or interface, is refused (the report
   * says why); each move is a compare-and-set with a history row naming `actor`. `dryRun` lists
   * what would move and what would be refused, and moves nothing. A run stopped anywhere is
   * resumed by running it again: nothing moves twice.
   */
  async migrateInstances(
    request: MigrationRequest,
    actor?: Actor,
    options?: MigrationOptions,
  ): Promise<MigrationReport> {
    return migrateInstances(this.#core, this.#runtime, request, actor, options);
  }

  async close(): Promise<void> {
    if (this.#ownsTransport) await this.#core.transport.close();
  }
}

export function createEngine(options: EngineOptions): Engine {
  return new Engine(options);
}
