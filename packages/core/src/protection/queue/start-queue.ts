import { randomUUID } from "node:crypto";
import { parseDuration } from "../../definition/duration.ts";
import { channelAt } from "../../definition/future-values.ts";
import type { Duration } from "../../definition/types.ts";
import { checkStartInput } from "../../engine/check-start-input.ts";
import { checkSameClient } from "../../engine/client-ownership.ts";
import {
  type ChannelStartRequest,
  checkBusinessKey,
  digestOf,
} from "../../engine/start-instance.ts";
import { CapflowError, toCapflowError } from "../../errors.ts";
import type { ChannelCalendar, CutoffRequest } from "../../ports/channel-calendar.ts";
import type { Clock } from "../../ports/clock.ts";
import type { DefinitionSource } from "../../ports/definition-source.ts";
import { type ExclusiveRunner, inProcessExclusiveRunner } from "../../ports/exclusive-runner.ts";
import type { InstanceRecord } from "../../ports/instance-store.ts";
import type { QueueDepth, QueuedStart, StartQueueStore } from "../../ports/start-queue-store.ts";
import { BusinessCalendar } from "../calendar/business-calendar.ts";

/** How starts of one channel and behavior are admitted. */
export interface QueuePolicy {
  channel: string;
  behavior: string;
  /** Starts admitted per second at most (the bucket holds one second's worth). */
  ratePerSecond: number;
  /** Unsettled instances of this channel and behavior at most; none admitted beyond. */
  concurrency?: number;
  /** How long a start may wait; after it, it expires unstarted. */
  ttl: Duration;
  /** Start attempts (each refused start counts) before it is given up. Default 3. */
  retryBudget?: number;
}

/** What the queue tells its host: starts admitted, expired unstarted, given up. */
export type QueueEvent =
  | { type: "start.admitted"; queued: QueuedStart; instanceId: string }
  | {
      type: "start.expired";
      queued: QueuedStart;
      /** `ttl`: its time to live passed; `cutoff`: its channel's cut-off (日切) expired it. */
      reason: "ttl" | "cutoff";
    }
  | { type: "start.gave-up"; queued: QueuedStart; code: string };

/**
 * What `submit` made of a start: queued now (`created`) or before (the same queued start, in the
 * state it reached), or the instance its business key already has.
 */
export type QueueSubmission = { queued: QueuedStart; created: boolean } | { instanceId: string };

export interface StartQueueOptions {
  store: StartQueueStore;
  /**
   * The behaviors' definitions: with them `submit` refuses an unknown behavior or input its
   * schema refuses before anything is queued, as a direct start would.
   */
  definitions?: DefinitionSource;
  /** What starts an admitted start: the engine. */
  engine: { start(request: ChannelStartRequest): Promise<InstanceRecord> };
  clock: Clock;
  policies: QueuePolicy[];
  /**
   * The channels' business calendars (`BusinessCalendar`, the engine's): a queued start is not
   * admitted while its channel is closed for its behavior's first call, and at a cut-off with
   * `atCutoff: "expire"` the starts queued before it expire. Needs `definitions`. Default, with
   * `definitions`: a `BusinessCalendar` over them with the built-in holiday schedules, as the
   * engine's default (give the engine's own when it has schedule files); without, none.
   * `alwaysOpenCalendar` admits at any time (the engine still holds the calls).
   */
  calendar?: ChannelCalendar;
  /** One node admits at a time. Default: in-process. */
  exclusive?: ExclusiveRunner;
  /** Raises an alert for starts that expired or were given up (`AlertMonitor.raise`). */
  alerts?: {
    raise(
      rule: string,
      subject: string,
      summary: string,
      details?: Record<string, unknown>,
    ): Promise<void>;
  };
  /** The `raised` alert rule's name. Default `queued-starts-expired`. */
  alertRule?: string;
  /** Told of admissions, expiries and give-ups. */
  onEvent?: (event: QueueEvent) => void;
  /**
   * Tells the upstream client that queued a start (`upstreamClient`) when it expires or is given
   * up: a `start.expired` or `start.gave-up` notification written to the outbox in the same
   * statement as the expiry, delivered at least once by the `OutboxDispatcher` like instance
   * notifications. Default false.
   */
  notifications?: boolean;
  /** Time between `run` rounds. Default 200 ms. */
  intervalMs?: number;
}

export interface AdmissionRound {
  ran: boolean;
  started: number;
  /** Expired in this round: after their time to live, or at their channel's cut-off. */
  expired: QueuedStart[];
  gaveUp: QueuedStart[];
  /** Queues not admitted from because their channel is closed for the first call, and why. */
  closed: { channel: string; behavior: string; reason: string }[];
}

const lockKey = "capflow:start-queue";

/**
 * Peak shaving: starts of a busy channel and behavior are queued and admitted at a rate and a
 * concurrency, first in first out (a refused start keeps its place, so none starves). Each has a
 * time to live and a retry budget; one that expires or spends its budget is never started, raises
 * an alert, is reported (`start.expired`, `start.gave-up`) and, with `notifications`, is told to
 * the upstream client that queued it through the outbox. With a `calendar`, starts wait while
 * their channel is closed for the behavior's first call, and a cut-off that expires waiting calls
 * expires the starts queued before it (`CALENDAR_CUTOFF_EXPIRED`).
 *
 * ```ts
 * const queue = new StartQueue({ store, engine, clock, policies: [{ channel: "lanbank", behavior: "repay.trial", ratePerSecond: 20, concurrency: 50, ttl: "2m" }] });
 * await queue.enqueue({ channel: "lanbank", behavior: "repay.trial", businessKey: "L-1", input });
 * await queue.admit(); // or queue.run(signal)
 * ```
 */
export class StartQueue {
  readonly #options: StartQueueOptions;
  readonly #policies: Map<string, QueuePolicy>;
  readonly #exclusive: ExclusiveRunner;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #calendar: ChannelCalendar | undefined;

  constructor(options: StartQueueOptions) {
    this.#options = options;
    this.#policies = new Map(options.policies.map((p) => [`${p.channel}\u0000${p.behavior}`, p]));
    this.#exclusive = options.exclusive ?? inProcessExclusiveRunner();
    if (options.calendar && !options.definitions) {
      throw new CapflowError(
        "CONFIG_INVALID",
        "a start queue with a calendar needs the definitions, to know each behavior's first call; pass definitions",
      );
    }
    this.#calendar =
      options.calendar ??
      (options.definitions
        ? new BusinessCalendar({ definitions: options.definitions })
        : undefined);
  }

  /** Queues a start of a queued channel and behavior (`CONFIG_INVALID` for one without a policy). */
  async enqueue(request: ChannelStartRequest): Promise<QueuedStart> {
    checkBusinessKey(request.businessKey);
    const policy = this.#policyOf(request);
    const { queued } = await this.#options.store.enqueue(this.#newStart(request, policy));
    return queued;
  }

  #policyOf(request: ChannelStartRequest): QueuePolicy {
    const policy = this.#policies.get(`${request.channel}\u0000${request.behavior}`);
    if (!policy) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `starts of ${request.channel}/${request.behavior} are not queued; add a queue policy for them or start them directly`,
      );
    }
    return policy;
  }

  #newStart(request: ChannelStartRequest, policy: QueuePolicy) {
    const now = this.#options.clock.now();
    return {
      id: randomUUID(),
      channel: request.channel,
      behavior: request.behavior,
      businessKey: request.businessKey,
      input: request.input,
      inputDigest: digestOf(request.input),
      enqueuedAt: now,
      expiresAt: now + parseDuration(policy.ttl),
      upstreamClient: request.upstreamClient ?? null,
    };
  }

  /** Whether starts of this channel and behavior go through the queue (it has a policy). */
  queues(channel: string, behavior: string): boolean {
    return this.#policies.has(`${channel}\u0000${behavior}`);
  }

  /**
   * A start as the intake API takes it: with `definitions`, an unknown behavior or input its
   * schema refuses is refused at once (`DEFINITION_NOT_FOUND`, `INSTANCE_INPUT_INVALID`); then it
   * is queued unless its business key was queued or started before. A repeat gets what the first
   * start became (the same queued start in its current state, or the instance), never a second
   * queue entry; a repeat with other input is refused (`INSTANCE_INPUT_MISMATCH`), as a direct
   * start's is, and a business key another upstream client queued or started is refused
   * (`BUSINESS_KEY_TAKEN`) before its input is compared.
   */
  async submit(request: ChannelStartRequest): Promise<QueueSubmission> {
    checkBusinessKey(request.businessKey);
    const policy = this.#policyOf(request);
    const definitions = this.#options.definitions;
    if (definitions) {
      const loaded = await definitions.getBehavior(request.channel, request.behavior);
      if (!loaded) {
        throw new CapflowError(
          "DEFINITION_NOT_FOUND",
          `no active behavior ${request.channel}/${request.behavior}; push its definition or fix the queue policy`,
          { context: { channel: request.channel, behavior: request.behavior } },
        );
      }
      checkStartInput(loaded.definition, request.input);
    }
    const first = await this.#options.store.enqueueOnce(this.#newStart(request, policy));
    const inputDigest = digestOf(request.input);
    const what = `${request.channel}/${request.behavior}`;
    const mismatch = (what: string) =>
      new CapflowError(
        "INSTANCE_INPUT_MISMATCH",
        `${request.channel}/${request.behavior} was already started for business key ${request.businessKey} with different input; use a new business key or look up the existing ${what}`,
        { context: { channel: request.channel, behavior: request.behavior } },
      );
    switch (first.outcome) {
      case "queued":
        return { queued: first.queued, created: true };
      case "queued-before":
        checkSameClient(first.queued, request, what);
        if (digestOf(first.queued.input) !== inputDigest) {
          throw mismatch(`queued start ${first.queued.id}`);
        }
        return { queued: first.queued, created: false };
      case "started-before":
        checkSameClient(first.instance, request, what);
        if (first.instance.inputDigest !== inputDigest) {
          throw mismatch(`instance ${first.instance.id}`);
        }
        return { instanceId: first.instance.id };
    }
  }

  /** The newest queued start of a business key, whatever became of it. */
  findQueued(key: {
    channel: string;
    behavior: string;
    businessKey: string;
  }): Promise<QueuedStart | undefined> {
    return this.#options.store.findQueued(key);
  }

  /** One admission round (unless another node runs one): expiries first, then each policy's starts. */
  async admit(): Promise<AdmissionRound> {
    const run = await this.#exclusive.runExclusive(lockKey, () => this.#round());
    return run.ran ? run.value : { ran: false, started: 0, expired: [], gaveUp: [], closed: [] };
  }

  /** Rounds every `intervalMs` until the signal aborts; a failed round is reported and retried. */
  async run(signal: AbortSignal, onError?: (error: unknown) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.admit();
      } catch (error) {
        onError?.(error);
      }
      await this.#options.clock.sleep(this.#options.intervalMs ?? 200, signal).catch(() => {});
    }
  }

  /** Queue depth and oldest age per channel and behavior (for /metrics). */
  depths(): Promise<QueueDepth[]> {
    return this.#options.store.queueDepths();
  }

  async #round(): Promise<AdmissionRound> {
    const { store, clock } = this.#options;
    const now = clock.now();
    const round: AdmissionRound = { ran: true, started: 0, expired: [], gaveUp: [], closed: [] };
    const notify = { notify: this.#options.notifications === true };
    for (const queued of await store.expireDue(now, notify)) {
      if (await this.#gaveUpAtExpiry(queued, round)) continue;
      round.expired.push(queued);
      this.#emit({ type: "start.expired", queued, reason: "ttl" });
      await this.#alert(
        queued,
        `expired after waiting ${Math.round((queued.expiresAt - queued.enqueuedAt) / 1000)} s in the queue; it was not started`,
      );
    }
    // A policy whose calendar cannot be read (a schedule the calendar was not given) fails its
    // own queue, not the others': the round goes on and reports the first failure at its end.
    const failures: unknown[] = [];
    for (const policy of this.#policies.values()) {
      // Each queue judged at its own turn: the admissions of a long turn before it (a flooded
      // queue's) are recorded at the time they were made, and would otherwise count as made in
      // the next round's last second, taking this queue's turn every other round.
      const now = clock.now();
      if (this.#calendar) {
        let open: boolean;
        try {
          open = await this.#keepToCalendar(policy, now, round, notify);
        } catch (error) {
          failures.push(error);
          continue;
        }
        if (!open) continue;
      }
      const key = `${policy.channel}\u0000${policy.behavior}`;
      const bucket = this.#buckets.get(key) ?? { tokens: policy.ratePerSecond, at: now };
      bucket.tokens = Math.min(
        Math.max(1, policy.ratePerSecond), // at most one second's worth, and at least one start
        bucket.tokens + ((now - bucket.at) / 1000) * policy.ratePerSecond,
      );
      bucket.at = now;
      this.#buckets.set(key, bucket);
      let allowed = Math.floor(bucket.tokens);
      // The bucket paces this node; the admissions every node made over the bucket's span cap
      // it, so nodes taking turns at admitting never add up to more than the rate.
      const capacity = Math.max(1, policy.ratePerSecond);
      const spanMs = (capacity / policy.ratePerSecond) * 1000;
      if (allowed > 0) {
        const admitted = await store.admittedSince(policy.channel, policy.behavior, now - spanMs);
        allowed = Math.min(allowed, Math.floor(capacity) - admitted);
      }
      if (policy.concurrency !== undefined) {
        const running = await store.unsettledCount(policy.channel, policy.behavior);
        allowed = Math.min(allowed, Math.max(0, policy.concurrency - running));
      }
      if (allowed <= 0) continue;
      const next = await store.oldestQueued({
        channel: policy.channel,
        behavior: policy.behavior,
        limit: allowed,
        now,
      });
      for (const queued of next) {
        // A start whose time to live passed while this round admitted others is not started:
        // the next round expires it.
        if (queued.expiresAt <= clock.now()) continue;
        bucket.tokens -= 1;
        let instanceId: string;
        try {
          const instance = await this.#options.engine.start({
            channel: queued.channel,
            behavior: queued.behavior,
            businessKey: queued.businessKey,
            input: queued.input,
            ...(queued.upstreamClient ? { upstreamClient: queued.upstreamClient } : {}),
          });
          instanceId = instance.id;
        } catch (error) {
          await this.#attemptFailed(queued, error, policy, round, notify);
          continue;
        }
        // Only the engine's refusal is a failed attempt. The instance exists now: a row that
        // cannot be marked stays queued, and the next round's start returns this instance and
        // marks it (or its expiry closes it as started), so it is never told upstream as failed.
        let marked: boolean;
        try {
          marked = await store.markStarted(queued.id, instanceId, clock.now());
        } catch (error) {
          failures.push(error);
          continue;
        }
        // Another node's round started or expired it meanwhile: that round reported it.
        if (!marked) continue;
        round.started += 1;
        this.#emit({ type: "start.admitted", queued, instanceId });
      }
    }
    if (failures.length > 0) throw failures[0];
    return round;
  }

  /**
   * The engine refused a start: the attempt is counted, and the start is given up once its retry
   * budget is spent or the refusal cannot succeed. The store counts it only while the start is
   * still queued (compare-and-set), and closes it as started instead when its business has an
   * instance with the start's own input (the refusal came after the instance was made, such as a
   * lost connection); an instance with other input is the refusal itself, never this start's.
   */
  async #attemptFailed(
    queued: QueuedStart,
    error: unknown,
    policy: QueuePolicy,
    round: AdmissionRound,
    notify: { notify: boolean },
  ): Promise<void> {
    const failure = toCapflowError(error);
    const budget = policy.retryBudget ?? 3;
    const giveUp = !failure.retryable || queued.attempts + 1 >= budget;
    const { start: updated, changed } = await this.#options.store.markAttemptFailed(
      queued.id,
      { code: failure.code, message: failure.message },
      this.#options.clock.now(),
      giveUp,
      { ...notify, inputDigest: queued.inputDigest },
    );
    // A start another node's round left as it is was reported by that round.
    if (!changed) return;
    if (updated?.status === "started" && updated.instanceId !== null) {
      round.started += 1;
      this.#emit({ type: "start.admitted", queued, instanceId: updated.instanceId });
      return;
    }
    if (giveUp && updated?.status === "failed") {
      round.gaveUp.push(updated);
      this.#emit({ type: "start.gave-up", queued: updated, code: failure.code });
      await this.#alert(
        updated,
        `given up after ${updated.attempts} start attempts: ${failure.code}`,
      );
    }
  }

  /**
   * An expiring start whose business had started with other input is given up, not expired (the
   * store ended it `failed` with the engine's `INSTANCE_INPUT_MISMATCH`): reported and alerted as
   * a refused start is. Returns whether it was.
   */
  async #gaveUpAtExpiry(queued: QueuedStart, round: AdmissionRound): Promise<boolean> {
    if (queued.status !== "failed") return false;
    const code = queued.lastError?.code ?? "INSTANCE_INPUT_MISMATCH";
    round.gaveUp.push(queued);
    this.#emit({ type: "start.gave-up", queued, code });
    await this.#alert(queued, `given up at its expiry: ${code}`);
    return true;
  }

  /**
   * The calendar's part of a round for one queue: at a cut-off that expires waiting calls, the
   * starts queued before it expire; then whether the channel is open for the first call now.
   */
  async #keepToCalendar(
    policy: QueuePolicy,
    now: number,
    round: AdmissionRound,
    notify: { notify: boolean },
  ): Promise<boolean> {
    const calendar = this.#calendar!;
    const first = await this.#firstCall(policy, now);
    if (!first) return true;
    const cutoff = calendar.expiringCutoff?.(first);
    if (cutoff !== undefined) {
      const calendarDefinition = first.channel.calendar;
      const where = `${policy.channel}'s cut-off (${calendarDefinition?.cutoff} ${first.channel.timeZone})`;
      const expired = await this.#options.store.expireQueuedBefore(
        {
          channel: policy.channel,
          behavior: policy.behavior,
          before: cutoff,
          now,
          reason: {
            code: "CALENDAR_CUTOFF_EXPIRED",
            message: `still queued at ${where}, which expires waiting calls; it was not started`,
          },
        },
        notify,
      );
      for (const queued of expired) {
        if (await this.#gaveUpAtExpiry(queued, round)) continue;
        round.expired.push(queued);
        this.#emit({ type: "start.expired", queued, reason: "cutoff" });
        await this.#alert(queued, `was still queued at ${where}; it expired unstarted`);
      }
    }
    const gate = await calendar.gate?.(first);
    if (!gate || gate.open) return true;
    round.closed.push({ channel: policy.channel, behavior: policy.behavior, reason: gate.reason });
    return false;
  }

  /**
   * What the calendar judges for a queue: its behavior's first call. Admitting a start runs the
   * behavior's initial step at once, so when that step calls (or polls) the funder, an admission
   * while the funder is closed only moves the wait from the queue into the engine, where the
   * start's time to live no longer applies and the call goes out on the next business day. An
   * initial step that does not reach the funder (a decision, a callback wait, a delay) is
   * admitted at any time: the engine holds the calls that come later. Undefined: nothing to judge.
   */
  async #firstCall(policy: QueuePolicy, now: number): Promise<CutoffRequest | undefined> {
    const definitions = this.#options.definitions!;
    const [channel, behavior] = await Promise.all([
      definitions.getChannel(policy.channel),
      definitions.getBehavior(policy.channel, policy.behavior),
    ]);
    if (!channel || !behavior) return undefined;
    const step = behavior.definition.steps[behavior.definition.initial];
    if (step?.kind !== "call" && step?.kind !== "poll") return undefined;
    return {
      channel: channelAt(channel.definition, now).definition,
      interfaceName: step.interface,
      kind: step.kind,
      at: now,
    };
  }

  async #alert(queued: QueuedStart, what: string): Promise<void> {
    await this.#options.alerts?.raise(
      this.#options.alertRule ?? "queued-starts-expired",
      `${queued.channel}/${queued.behavior}`,
      `queued start ${queued.channel}/${queued.behavior} ${queued.businessKey} ${what}`,
      { businessKey: queued.businessKey, queuedStart: queued.id },
    );
  }

  #emit(event: QueueEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure never affects the queue.
    }
  }
}
