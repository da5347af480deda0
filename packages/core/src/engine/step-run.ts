import type { StepDefinition } from "../definition/types.ts";
import type { ErrorContext } from "../errors.ts";
import { maskFields, maskingRulesOf } from "../message/mask.ts";
import type { RenderScope } from "../message/render-session.ts";
import type { InFlightCall, InstanceRecord } from "../ports/instance-store.ts";
import type { MachineSnapshot } from "./behavior-machine.ts";
import type { EngineCore } from "./engine-core.ts";
import type { BehaviorRuntime, ChannelRuntime } from "./runtime-cache.ts";

/** Everything one execution of one step works with. Lives for that execution only. */
export class StepRun {
  readonly stepCode: string;
  readonly step: StepDefinition;
  readonly snapshot: MachineSnapshot;

  /** The instance as last committed; the intent commit of a call moves it forward. */
  record: InstanceRecord;

  constructor(
    readonly engine: EngineCore,
    record: InstanceRecord,
    readonly channel: ChannelRuntime,
    readonly behavior: BehaviorRuntime,
    /** Aborted when the instance lock is lost: no partner call may start after that. */
    readonly signal: AbortSignal,
  ) {
    this.record = record;
    this.stepCode = record.step;
    const step = behavior.definition.steps[record.step];
    if (!step)
      throw new Error(
        `step ${record.step} missing from ${behavior.definition.code}@${behavior.version}`,
      );
    this.step = step;
    this.snapshot = record.snapshot as MachineSnapshot;
  }

  /** The attempt sequence across the whole instance: a new number gets a new serial number. */
  renderScope(attempt?: { number: number; serial: string; startedAt: number }): RenderScope {
    const input = (this.record.input ?? {}) as Record<string, unknown>;
    return {
      input,
      context: { ...input, ...this.record.context },
      channel: { code: this.channel.definition.code, timeZone: this.channel.definition.timeZone },
      behavior: this.behavior.definition.code,
      step: this.stepCode,
      ...(this.channel.accountValues ? { account: this.channel.accountValues } : {}),
      ...(this.channel.definition.constants
        ? { constants: this.channel.definition.constants }
        : {}),
      attempt: {
        instanceId: this.record.id,
        number: attempt?.number ?? this.record.attempt + 1,
        ...(attempt ? { serial: attempt.serial, startedAt: attempt.startedAt } : {}),
      },
    };
  }

  /** Personal data masked per the channel's and the behavior's rules, for step logs. */
  mask(value: unknown): unknown {
    return maskFields(value, maskingRulesOf(this.channel.definition, this.behavior.definition));
  }

  /** Data route conditions see besides the answer: `context` and `input`. */
  routeData(): { context: Record<string, unknown>; input: Record<string, unknown> } {
    const input = (this.record.input ?? {}) as Record<string, unknown>;
    return { context: { ...input, ...this.record.context }, input };
  }

  /**
   * Records that an attempt is about to be sent (compare-and-set, keeping the lease and the
   * instance's `updatedAt`). Throws
   * `STORE_CONFLICT` if another worker moved the instance: then nothing may be sent.
   */
  async recordIntent(intent: InFlightCall, tries: number): Promise<void> {
    if (this.signal.aborted) throw this.signal.reason;
    const now = this.engine.clock.now();
    this.record = await this.engine.store.commitTransition({
      instanceId: this.record.id,
      expectedVersion: this.record.version,
      now,
      changes: { inFlight: intent, attempt: tries },
      log: {
        step: this.stepCode,
        attempt: tries,
        event: "intent",
        outcome: `serial:${intent.serial}`,
        startedAt: now,
        durationMs: 0,
      },
      keepLease: true,
      leaseUntil: now + this.engine.leaseMs,
      // A mark before the send, not progress: and the row is updated in place (see the port).
      keepUpdatedAt: true,
    });
  }

  errorContext(): ErrorContext {
    return {
      channel: this.record.channel,
      behavior: this.record.behavior,
      step: this.stepCode,
      instance: this.record.id,
    };
  }
}
