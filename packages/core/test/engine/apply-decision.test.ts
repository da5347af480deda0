import { describe, expect, test } from "vitest";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createInlineSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { applyDecision } from "../../src/engine/apply-decision.ts";
import type { EngineCore } from "../../src/engine/engine-core.ts";
import { RuntimeCache } from "../../src/engine/runtime-cache.ts";
import { StepRun } from "../../src/engine/step-run.ts";
import { CapflowError } from "../../src/errors.ts";
import { ManualClock } from "../../src/memory/manual-clock.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import type { InstanceRecord } from "../../src/ports/instance-store.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

/** A step run of the test loan at `step`, without a store: applyDecision reads nothing else. */
async function runAt(step: string, record: Partial<InstanceRecord> = {}): Promise<StepRun> {
  const clock = new ManualClock(1_000_000);
  const runtime = new RuntimeCache(
    new MemoryDefinitionSource({ channels: [testChannel], behaviors: [loanBehavior()] }),
    createCryptoHandlerRegistry(),
    createInlineSecretResolver(),
    clock,
  );
  const [channel, behavior] = await Promise.all([
    runtime.channel("lanbank"),
    runtime.behavior("lanbank", "loan", 1),
  ]);
  const instance: InstanceRecord = {
    id: "I-1",
    channel: "lanbank",
    behavior: "loan",
    businessKey: "L-1",
    behaviorVersion: 1,
    inputDigest: "d",
    input: { loanNo: "L-1" },
    step,
    status: "active",
    context: { earlier: { a: 1 } },
    snapshot: behavior.machine.moveTo(behavior.machine.initial(clock.now()), step, clock.now()),
    nextRunAt: clock.now(),
    waitingFor: null,
    now: clock.now(),
    version: 7,
    attempt: 0,
    inFlight: null,
    lastError: null,
    refusals: null,
    product: null,
    account: null,
    customerRef: null,
    failoverOf: null,
    routing: null,
    leaseOwner: "w1",
    leaseUntil: clock.now() + 60_000,
    createdAt: clock.now(),
    updatedAt: clock.now(),
    ...record,
  };
  const core = { clock, leaseMs: 60_000 } as unknown as EngineCore;
  return new StepRun(core, instance, channel, behavior, new AbortController().signal);
}

const timing = { startedAt: 1_000_000, now: 1_000_250, mayChain: true, leaseMs: 60_000 };

describe("applyDecision: a decision becomes one compare-and-set transition and its events", () => {
  test("leaving for a callback step waits for that callback; fields land under the step's code", async () => {
    const run = await runAt("apply");
    const { transition, events } = applyDecision(
      run,
      { type: "leave", to: "wait", via: "route", event: "call", fields: { applyNo: "A-1" } },
      timing,
    );
    expect(transition).toMatchObject({
      instanceId: "I-1",
      expectedVersion: 7,
      changes: {
        step: "wait",
        status: "waiting",
        waitingFor: "loan.result",
        attempt: 0,
        inFlight: null,
        context: { earlier: { a: 1 }, apply: { applyNo: "A-1" } },
      },
      log: { step: "apply", fromStep: "apply", toStep: "wait", durationMs: 250 },
      // Not due at once: the lease is not kept.
      keepLease: false,
    });
    expect(events).toEqual([
      {
        type: "step.succeeded",
        instanceId: "I-1",
        step: "apply",
        to: "wait",
        outcome: "route",
        channel: "lanbank",
        interface: "loan.apply",
      },
    ]);
  });

  test("leaving for a manual terminal settles the instance and asks for attention", async () => {
    const run = await runAt("query", { status: "waiting" });
    const { transition, events } = applyDecision(
      run,
      { type: "leave", to: "manual", via: "exhausted", event: "poll", outcome: "processing" },
      timing,
    );
    expect(transition.changes).toMatchObject({ status: "manual", nextRunAt: null });
    expect(events.map((e) => e.type)).toEqual([
      "step.succeeded",
      "instance.settled",
      "instance.attention",
    ]);
  });

  test("staying with a third error in a row reports the failure and repeated errors", async () => {
    const run = await runAt("apply", { attempt: 2 });
    const error = new CapflowError("TRANSPORT_NOT_SENT", "refused");
    const { transition, events } = applyDecision(
      run,
      {
        type: "stay",
        status: "active",
        nextRunAt: 1_005_000,
        attempt: 3,
        inFlight: null,
        event: "retry",
        outcome: "notSent",
        error,
      },
      timing,
    );
    expect(transition.changes).toMatchObject({
      attempt: 3,
      nextRunAt: 1_005_000,
      waitingFor: null,
      lastError: { code: "TRANSPORT_NOT_SENT", message: "refused" },
    });
    expect(transition.keepLease).toBeUndefined();
    expect(transition.log).toMatchObject({ attempt: 3, fromStatus: "active", toStatus: "active" });
    expect(events).toEqual([
      expect.objectContaining({ type: "step.failed", code: "TRANSPORT_NOT_SENT", willRetry: true }),
      expect.objectContaining({ type: "instance.attention", reason: "repeated-errors" }),
    ]);
  });

  test("pure: the same run and decision give the same answer and change nothing", async () => {
    const run = await runAt("apply");
    const before = structuredClone(run.record);
    const decision = { type: "leave", to: "wait", via: "route", event: "call" } as const;
    expect(applyDecision(run, decision, timing)).toEqual(applyDecision(run, decision, timing));
    expect(run.record).toEqual(before);
  });
});
