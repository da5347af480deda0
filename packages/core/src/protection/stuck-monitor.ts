import { randomUUID } from "node:crypto";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import type { EngineEvent, EngineEventListener } from "../engine/engine-events.ts";
import type { Clock } from "../ports/clock.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import { type ExclusiveRunner, inProcessExclusiveRunner } from "../ports/exclusive-runner.ts";
import type {
  NewStuckBreach,
  StuckBreach,
  StuckCount,
  StuckFilter,
  StuckScan,
  StuckStore,
} from "../ports/stuck-store.ts";
import { slaLimits } from "./sla-limits.ts";

export interface StuckMonitorOptions {
  store: StuckStore;
  definitions: DefinitionSource;
  clock: Clock;
  /** One node at a time runs a round. Default: in-process (one node). */
  exclusive?: ExclusiveRunner;
  /** Receives `instance.stuck` once per breach. */
  onEvent?: EngineEventListener;
  /** Called when the listener throws. Default: ignored. */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
  /**
   * Called when the shared last scan cannot be read or recorded (its table missing because
   * `capflow migrate` has not run yet, or a database error): the round scans anyway and its
   * result stands. Default: ignored.
   */
  onError?: (error: unknown) => void;
  /** Instances read per query. Default 500. */
  batchSize?: number;
  /**
   * Time between rounds for `run`, and across nodes: a round is skipped when another node's
   * finished less than this long ago. Default 60 s.
   */
  intervalMs?: number;
}

/** What one round found. `ran: false`: the round was skipped (`skipped` says why). */
export interface StuckCheck {
  ran: boolean;
  /**
   * Why the round was skipped: `held`, another node runs one now; `recent`, another node finished
   * one less than `intervalMs` ago.
   */
  skipped?: "held" | "recent";
  /** Breaches found in this round, each fired as `instance.stuck`. */
  newlyStuck: StuckBreach[];
  /** Breaches closed because the instance settled or moved on. */
  resolved: number;
  /** Unsettled instances looked at. */
  examined: number;
}

const lockKey = "capflow:stuck-monitor";

/**
 * The stuck-order monitor (卡单): finds unsettled instances past their SLA (the behavior's or
 * channel's `sla` from creation, a step's `sla` from entering it), records each breach once and
 * fires `instance.stuck` for it, closes breaches that cleared, and answers how many are stuck per
 * channel, behavior and step. Rounds run on one node at a time (`exclusive`), so every node may run
 * a monitor; a node that takes the lock less than `intervalMs` after another node finished a round
 * (the store's `lastScan`) skips it, so the cluster scans once per interval however many nodes
 * run one. A stamp older than the interval, or ahead of this node's clock, never holds a round
 * back: a node that died stops no one. Nor does a last scan that cannot be read or recorded: the
 * round scans and the error goes to `onError`.
 *
 * ```ts
 * const monitor = new StuckMonitor({ store: stuckStore, definitions, clock, onEvent: console.log });
 * await monitor.check();            // one round
 * const gauge = await monitor.counts();
 * ```
 */
export class StuckMonitor {
  readonly #store: StuckStore;
  readonly #definitions: DefinitionSource;
  readonly #clock: Clock;
  readonly #exclusive: ExclusiveRunner;
  readonly #onEvent: EngineEventListener | undefined;
  readonly #onListenerError: ((error: unknown, event: EngineEvent) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  /** This monitor in `lastScan`: it never skips after its own round, so its own pace holds. */
  readonly #node = randomUUID();
  /** Pinned behavior versions never change: cached for good. */
  readonly #behaviors = new Map<string, BehaviorDefinition | null>();

  constructor(options: StuckMonitorOptions) {
    this.#store = options.store;
    this.#definitions = options.definitions;
    this.#clock = options.clock;
    this.#exclusive = options.exclusive ?? inProcessExclusiveRunner();
    this.#onEvent = options.onEvent;
    this.#onListenerError = options.onListenerError;
    this.#onError = options.onError;
    this.#batchSize = options.batchSize ?? 500;
    this.#intervalMs = options.intervalMs ?? 60_000;
  }

  /** One round, unless another node runs one now or finished one less than `intervalMs` ago. */
  async check(): Promise<StuckCheck> {
    const run = await this.#exclusive.runExclusive(lockKey, async () => {
      if (await this.#scannedRecently()) return skipped("recent");
      const check = await this.#round();
      await this.#recordScan();
      return check;
    });
    return run.ran ? run.value : skipped("held");
  }

  /** Rounds every `intervalMs` until the signal aborts. A failed round is reported and retried. */
  async run(signal: AbortSignal, onError?: (error: unknown) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.check();
      } catch (error) {
        onError?.(error);
      }
      await this.#clock.sleep(this.#intervalMs, signal).catch(() => {});
    }
  }

  /** Stuck instances per channel, behavior and step (a gauge for /metrics). */
  counts(): Promise<StuckCount[]> {
    return this.#store.stuckCounts();
  }

  /** Stuck instances, oldest breach first. */
  list(filter?: StuckFilter): Promise<StuckBreach[]> {
    return this.#store.listStuck(filter);
  }

  /**
   * A last scan that cannot be read never stops detection: the round scans (at worst the cluster
   * scans more than once per interval until it can be read again).
   */
  async #scannedRecently(): Promise<boolean> {
    let last: StuckScan | undefined;
    try {
      last = await this.#store.lastScan();
    } catch (error) {
      this.#report(error);
      return false;
    }
    if (last === undefined || last.node === this.#node) return false;
    const age = this.#clock.now() - last.finishedAt;
    return age >= 0 && age < this.#intervalMs;
  }

  /** Best effort: the round is done and its breaches recorded; other nodes just scan sooner. */
  async #recordScan(): Promise<void> {
    try {
      await this.#store.recordScan({ finishedAt: this.#clock.now(), node: this.#node });
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    try {
      this.#onError?.(error);
    } catch {
      // A failing reporter must not fail the round either.
    }
  }

  async #round(): Promise<StuckCheck> {
    const now = this.#clock.now();
    const resolved = await this.#store.resolveCleared(now);
    const channels = new Map<string, ChannelDefinition | undefined>();
    const newlyStuck: StuckBreach[] = [];
    let examined = 0;
    let after: { createdAt: number; id: string } | undefined;
    for (;;) {
      const page = await this.#store.unsettledInstances({
        createdBefore: now,
        limit: this.#batchSize,
        ...(after ? { after } : {}),
      });
      if (page.length === 0) break;
      examined += page.length;
      const breaches: NewStuckBreach[] = [];
      for (const instance of page) {
        const behavior = await this.#behavior(
          instance.channel,
          instance.behavior,
          instance.behaviorVersion,
        );
        if (!behavior) continue;
        if (!channels.has(instance.channel)) {
          channels.set(
            instance.channel,
            (await this.#definitions.getChannel(instance.channel))?.definition,
          );
        }
        const limits = slaLimits(channels.get(instance.channel), behavior, instance.step);
        const base = {
          instanceId: instance.id,
          channel: instance.channel,
          behavior: instance.behavior,
          businessKey: instance.businessKey,
          step: instance.step,
          detectedAt: now,
        };
        if (limits.behaviorMs !== undefined && now - instance.createdAt > limits.behaviorMs) {
          breaches.push({
            ...base,
            scope: "behavior",
            slaMs: limits.behaviorMs,
            since: instance.createdAt,
          });
        }
        if (limits.stepMs !== undefined && now - instance.stepEnteredAt > limits.stepMs) {
          breaches.push({
            ...base,
            scope: "step",
            slaMs: limits.stepMs,
            since: instance.stepEnteredAt,
          });
        }
      }
      if (breaches.length > 0) {
        for (const breach of await this.#store.recordBreaches(breaches)) {
          newlyStuck.push(breach);
          this.#emit({
            type: "instance.stuck",
            instanceId: breach.instanceId,
            channel: breach.channel,
            behavior: breach.behavior,
            step: breach.step,
            businessKey: breach.businessKey,
            scope: breach.scope,
            slaMs: breach.slaMs,
            since: breach.since,
            overdueMs: now - breach.since - breach.slaMs,
          });
        }
      }
      const last = page[page.length - 1]!;
      after = { createdAt: last.createdAt, id: last.id };
      if (page.length < this.#batchSize) break;
    }
    return { ran: true, newlyStuck, resolved, examined };
  }

  async #behavior(
    channel: string,
    code: string,
    version: number,
  ): Promise<BehaviorDefinition | undefined> {
    const key = `${channel}\u0000${code}\u0000${version}`;
    if (!this.#behaviors.has(key)) {
      const loaded = await this.#definitions.getBehavior(channel, code, version);
      this.#behaviors.set(key, loaded?.definition ?? null);
    }
    return this.#behaviors.get(key) ?? undefined;
  }

  #emit(event: EngineEvent): void {
    if (!this.#onEvent) return;
    try {
      this.#onEvent(event);
    } catch (error) {
      this.#onListenerError?.(error, event);
    }
  }
}

function skipped(reason: "held" | "recent"): StuckCheck {
  return { ran: false, skipped: reason, newlyStuck: [], resolved: 0, examined: 0 };
}
